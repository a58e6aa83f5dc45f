package greylist

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"spamgate/internal/logbuf"
	"strings"
	"testing"
	"time"
)

// passTriplets makes keys[i] passed triplets: seen, then retried after
// the delay.
func passTriplets(t testing.TB, m *Memory, clk *clock, keys []Key) {
	t.Helper()
	ctx := context.Background()
	for _, k := range keys {
		if _, err := m.Check(ctx, k, suiteParams); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(suiteParams.Delay)
	for _, k := range keys {
		if d, err := m.Check(ctx, k, suiteParams); err != nil || d.Reason != ReasonPass {
			t.Fatalf("retry of %v: %+v, %v", k, d, err)
		}
	}
}

func scaleKeys(from, n int) []Key {
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = scaleKey(from + i)
	}
	return keys
}

func mustStatus(t *testing.T, m *Memory, k Key) Entry {
	t.Helper()
	e, err := m.Status(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestMemoryEstimate fills the store and compares the heap it took with
// MemoryEstimate, which check-config prints: within 1.5x either way. It
// fills through putTriplet and putAWL, which Check calls, since hashing
// 150,000 keys under the race detector takes seconds.
func TestMemoryEstimate(t *testing.T) {
	const n = 100_000
	clk := newClock()
	now := clk.Now().UnixMilli()
	synthetic := func(i int) (k memKey) {
		binary.LittleEndian.PutUint64(k[:], uint64(i)*0x9e3779b97f4a7c15) // spread like a hash
		binary.LittleEndian.PutUint64(k[8:], uint64(i))
		return k
	}
	h0 := liveHeap()
	m := newMemory(t, MemoryOptions{Now: clk.Now, MaxTriplets: n, MaxAWL: n})
	m.mu.Lock()
	for i := range n {
		m.putTriplet(synthetic(i), tripletVal{first: now, exp: now + 1000})
	}
	m.mu.Unlock()
	h1 := liveHeap()
	m.mu.Lock()
	for i := range n / 2 {
		m.putAWL(synthetic(i), awlVal{n: 1, exp: now + 1000})
	}
	m.mu.Unlock()
	h2 := liveHeap()
	for _, c := range []struct {
		what      string
		got, want int64
	}{
		{"triplets", int64(h1) - int64(h0), MemoryEstimate(n, 1) - MemoryEstimate(1, 1) + memBytesPerTriplet},
		{"auto-whitelist counters", int64(h2) - int64(h1), MemoryEstimate(1, n/2) - MemoryEstimate(1, 1) + memBytesPerAWL},
	} {
		t.Logf("%s: heap grew %d bytes, estimate %d", c.what, c.got, c.want)
		if r := float64(c.got) / float64(c.want); r < 1/1.5 || r > 1.5 {
			t.Errorf("%s: heap grew %d bytes, estimate %d: ratio %.2f", c.what, c.got, c.want, r)
		}
	}
	if s := m.Stats(); s.Triplets != n || s.AWL != n/2 {
		t.Fatalf("%+v, want %d triplets and %d counters", s, n, n/2)
	}
}

// TestMemoryFloodKeepsPassed: a flood of new triplets (a botnet trying
// each once) twice the cap evicts only waiting triplets; the passed ones,
// the legitimate correspondents, all survive. Only a store full of passed
// triplets gives up one, the least recently used, per new triplet.
func TestMemoryFloodKeepsPassed(t *testing.T) {
	const max, passed = 1000, 600
	clk := newClock()
	m := newMemory(t, MemoryOptions{Now: clk.Now, MaxTriplets: max})
	good := scaleKeys(0, passed)
	passTriplets(t, m, clk, good)
	for _, k := range scaleKeys(passed, 2*max) {
		mustCheck(t, m, k, ReasonNew)
	}
	s := m.Stats()
	if s.Triplets != max || s.EvictedPassed != 0 || s.EvictedWaiting != 2*max-(max-passed) {
		t.Errorf("after the flood: %+v; want %d triplets, %d waiting evicted, no passed one", s, max, 2*max-(max-passed))
	}
	for _, k := range good {
		if e := mustStatus(t, m, k); e.PassedAt.IsZero() {
			t.Fatalf("passed triplet %v lost in the flood", k)
		}
	}

	full := newMemory(t, MemoryOptions{Now: clk.Now, MaxTriplets: 3})
	passTriplets(t, full, clk, good[:3])
	mustCheck(t, full, good[0], ReasonPass) // a use: good[1] is now the least recent
	mustCheck(t, full, good[3], ReasonNew)
	if e := mustStatus(t, full, good[1]); !e.FirstSeen.IsZero() || full.Stats().EvictedPassed != 1 {
		t.Errorf("full of passed triplets: %+v, good[1] = %+v; want good[1] evicted", full.Stats(), e)
	}
}

// TestMemoryAWLCap: the auto-whitelist counters have their own cap, the
// least recently used evicted first.
func TestMemoryAWLCap(t *testing.T) {
	clk := newClock()
	m := newMemory(t, MemoryOptions{Now: clk.Now, MaxAWL: 10})
	passTriplets(t, m, clk, scaleKeys(0, 10))
	// A second triplet of client 0 passes: its counter is the most recent.
	again := scaleKey(0)
	again.Sender = "other@example.com"
	passTriplets(t, m, clk, []Key{again})
	passTriplets(t, m, clk, scaleKeys(10, 5)) // evicts clients 1 to 5
	s := m.Stats()
	if s.AWL != 10 || s.EvictedAWL != 5 {
		t.Errorf("%+v; want 10 counters, 5 evicted", s)
	}
	for i, want := range map[int]int{0: 2, 1: 0, 5: 0, 6: 1, 14: 1} {
		if e := mustStatus(t, m, scaleKey(i)); e.AWLCount != want {
			t.Errorf("client %d: AWL count %d, want %d", i, e.AWLCount, want)
		}
	}
}

// TestMemorySetLimits: caps lowered on a running store (a reload) are
// reached at the next sweep, waiting triplets going first.
func TestMemorySetLimits(t *testing.T) {
	clk := newClock()
	m := newMemory(t, MemoryOptions{Now: clk.Now})
	good := scaleKeys(0, 50)
	passTriplets(t, m, clk, good)
	for _, k := range scaleKeys(50, 100) {
		mustCheck(t, m, k, ReasonNew)
	}
	m.SetLimits(60, 20)
	m.sweep()
	if s := m.Stats(); s.Triplets != 60 || s.AWL != 20 || s.EvictedPassed != 0 {
		t.Errorf("after SetLimits(60, 20) and a sweep: %+v", s)
	}
	for _, k := range good {
		if e := mustStatus(t, m, k); e.PassedAt.IsZero() {
			t.Fatalf("passed triplet %v lost", k)
		}
	}
	if e := mustStatus(t, m, scaleKey(149)); e.FirstSeen.IsZero() {
		t.Error("the newest waiting triplet was evicted")
	}
}

// TestMemoryBatches: the sweep and the save take the lock one chunk of
// slots at a time; between chunks a Check (which writes) runs at once.
// The save, walking slots that do not move, still holds every entry that
// was there throughout.
func TestMemoryBatches(t *testing.T) {
	const n = 3*slabChunk + 100
	clk := newClock()
	file := filepath.Join(t.TempDir(), "gl.state")
	m := newMemory(t, MemoryOptions{File: file, Now: clk.Now, MaxTriplets: 2 * n})
	passTriplets(t, m, clk, scaleKeys(0, n))
	batches, added := 0, 0
	m.betweenBatches = func() {
		batches++
		added++
		k := scaleKey(n + added)
		done := make(chan struct{})
		go func() { // another goroutine: the lock must be free
			defer close(done)
			if d, err := m.Check(context.Background(), k, suiteParams); err != nil || d.Reason != ReasonNew {
				t.Errorf("Check between batches: %+v, %v", d, err)
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("a Check waited for the lock between two batches")
		}
	}
	m.sweep()
	if batches < 4 {
		t.Errorf("the sweep ran in %d batches, want at least 4 for %d triplets", batches, n)
	}
	batches = 0
	if err := m.save(); err != nil {
		t.Fatal(err)
	}
	if batches < 4 {
		t.Errorf("the save ran in %d batches, want at least 4", batches)
	}
	m.betweenBatches = nil
	m2 := newMemory(t, MemoryOptions{File: file, Now: clk.Now})
	c, _ := m2.Counts(context.Background())
	if c.Passed != n || c.AWLClients != n {
		t.Errorf("reloaded: %+v; want all %d passed triplets and counters", c, n)
	}
}

// captureLog is a logger whose text lands in a buffer.
type captureLog = logbuf.Buffer

func captureLogger(c *captureLog) *slog.Logger { return slog.New(slog.NewTextHandler(c, nil)) }

// TestMemoryLegacyFile reads a state file of format 1 (JSON), which the
// next save replaces with format 2.
func TestMemoryLegacyFile(t *testing.T) {
	clk := newClock()
	now := clk.Now().UnixMilli()
	k1, k2 := key(1), key(2)
	c1, p1 := k1.hashes()
	_, p2 := k2.hashes()
	v1 := map[string]any{
		"version": 1,
		"triplets": []legacyTriplet{
			{Key: c1 + ":" + p1, First: now - 600_000, Pass: now - 300_000, Exp: now + 3_600_000},
			{Key: c1 + ":" + p2, First: now - 60_000, Exp: now + 3_600_000},
			{Key: "not:hex", First: now, Exp: now + 1},
		},
		"awl":       []legacyAWL{{Key: c1, N: 2, Exp: now + 3_600_000}},
		"whitelist": []legacyWL{{Kind: KindDomain, Value: "example.net"}},
		"future":    []int{1, 2},
	}
	b, _ := json.Marshal(v1)
	file := filepath.Join(t.TempDir(), "gl.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var log captureLog
	m := newMemory(t, MemoryOptions{File: file, Now: clk.Now, Logger: captureLogger(&log)})
	want1 := Entry{FirstSeen: time.UnixMilli(now - 600_000), PassedAt: time.UnixMilli(now - 300_000),
		Expires: time.UnixMilli(now + 3_600_000), AWLCount: 2, AWLExpires: time.UnixMilli(now + 3_600_000)}
	if got := mustStatus(t, m, k1); !entryEqual(got, want1) {
		t.Errorf("Status(k1) = %+v, want %+v", got, want1)
	}
	mustCheck(t, m, k2, ReasonEarly)
	listEqual(t, m, []WhitelistEntry{{Kind: KindDomain, Value: "example.net"}})
	if strings.Contains(log.String(), "damaged") {
		t.Errorf("log: %s", log.String())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); !bytes.HasPrefix(b, []byte(memMagic)) {
		t.Fatalf("after a save: %q, want format 2", b)
	}
	m2 := newMemory(t, MemoryOptions{File: file, Now: clk.Now})
	if got := mustStatus(t, m2, k1); !entryEqual(got, want1) {
		t.Errorf("Status(k1) after a save in format 2 = %+v, want %+v", got, want1)
	}
}

// TestMemoryDamagedFile: a damaged state file never stops the store from
// opening: the error is logged, naming the file, and the store starts
// with the entries read before the damage.
func TestMemoryDamagedFile(t *testing.T) {
	const n = 10_000 // several blocks
	clk := newClock()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.state")
	m, err := NewMemory(MemoryOptions{File: good, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range scaleKeys(0, n) {
		mustCheck(t, m, k, ReasonNew)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	whole, _ := os.ReadFile(good)
	legacy, _ := json.Marshal(map[string]any{"version": 1, "triplets": []legacyTriplet{
		{Key: strings.Repeat("a", 32) + ":" + strings.Repeat("b", 32), First: 1, Exp: clk.Now().UnixMilli() + 1000},
		{Key: strings.Repeat("c", 32) + ":" + strings.Repeat("d", 32), First: 1, Exp: clk.Now().UnixMilli() + 1000},
	}})
	flipped := bytes.Clone(whole)
	flipped[len(whole)/2] ^= 0x55
	for _, tc := range []struct {
		name     string
		content  []byte
		min, max int // triplets loaded
	}{
		{"cut in the middle", whole[:len(whole)/2], 1, n - 1},
		{"no end block", whole[:len(whole)-5], n, n},
		{"a flipped byte", flipped, 1, n - 1},
		{"empty", nil, 0, 0},
		{"not a state file", []byte("{not json"), 0, 0},
		{"JSON of version 99", []byte(`{"version":99,"triplets":[]}`), 0, 0},
		{"JSON cut short", legacy[:len(legacy)-30], 1, 1},
		{"a huge block length", []byte(memMagic + "T\xff\xff\xff\xff\x0f"), 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(file, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			var log captureLog
			m, err := NewMemory(MemoryOptions{File: file, Now: clk.Now, Logger: captureLogger(&log)})
			if err != nil {
				t.Fatalf("NewMemory: %v, want a store", err)
			}
			defer m.Close()
			if got := m.Stats().Triplets; got < tc.min || got > tc.max {
				t.Errorf("%d triplets loaded, want %d to %d", got, tc.min, tc.max)
			}
			if l := log.String(); !strings.Contains(l, "damaged") || !strings.Contains(l, file) {
				t.Errorf("log %q: want an error naming %s", l, file)
			}
			mustCheck(t, m, key(1), ReasonNew)
		})
	}
	m, err = NewMemory(MemoryOptions{File: filepath.Join(dir, "missing", "x")})
	if err != nil {
		t.Fatalf("missing file: %v, want an empty store", err)
	}
	_ = m.Close() // its directory is missing too: the save fails
}

// FuzzMemoryFile: whatever the state file holds, the store opens, works,
// and saves a file it reads back without complaint.
func FuzzMemoryFile(f *testing.F) {
	clk := newClock()
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed")
	m, err := NewMemory(MemoryOptions{File: seed, Now: clk.Now})
	if err != nil {
		f.Fatal(err)
	}
	passTriplets(f, m, clk, scaleKeys(0, 3))
	mustCheckTB(f, m, scaleKey(9))
	_ = m.AddWhitelist(context.Background(), WhitelistEntry{Kind: KindNetwork, Value: "192.0.2.0/24"})
	if err := m.Close(); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(seed)
	f.Add(b)
	f.Add([]byte(`{"version":1,"triplets":[{"k":"00000000000000000000000000000000:00000000000000000000000000000000","f":1,"e":9999999999999}],"awl":[],"whitelist":[{"kind":"domain","value":"x.example"}]}`))
	f.Add([]byte(memMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(t.TempDir(), "state")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := NewMemory(MemoryOptions{File: file, Now: clk.Now, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		mustCheckTB(t, m, key(1))
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		var log captureLog
		m2, err := NewMemory(MemoryOptions{File: file, Now: clk.Now, Logger: captureLogger(&log)})
		if err != nil {
			t.Fatal(err)
		}
		defer m2.Close()
		if strings.Contains(log.String(), "damaged") {
			t.Fatalf("a file the store saved is damaged: %s", log.String())
		}
	})
}

func mustCheckTB(t testing.TB, s Store, k Key) {
	t.Helper()
	if _, err := s.Check(context.Background(), k, suiteParams); err != nil {
		t.Fatal(err)
	}
}

// TestMemoryReadsPreviousFile reads testdata/state-v1.json, which the
// previous version of the store wrote: key(1) passed, key(3) seen, then
// five minutes later key(2) seen, a network whitelisted.
func TestMemoryReadsPreviousFile(t *testing.T) {
	b, err := os.ReadFile("testdata/state-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "gl.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	clk.Advance(suiteParams.Delay)
	m := newMemory(t, MemoryOptions{File: file, Now: clk.Now})
	if e := mustStatus(t, m, key(1)); e.PassedAt.UnixMilli() != 1_800_000_300_000 || e.AWLCount != 1 {
		t.Errorf("key(1): %+v, want passed at 1800000300000 with an AWL count of 1", e)
	}
	mustCheck(t, m, key(2), ReasonEarly)
	mustCheck(t, m, key(3), ReasonPass)
	listEqual(t, m, []WhitelistEntry{{Kind: KindNetwork, Value: "198.51.100.0/24"}})
}
