package dmarcreport

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// hostileRUA is a rua= list like issue 18's: n mailto: URIs.
func hostileRUA(n int) []string {
	u := make([]string, n)
	for i := range u {
		u[i] = fmt.Sprintf("mailto:dmarc-reports-%d@reports.example.com", i)
	}
	return u
}

// TestHistoryCapsHostileEvaluation: whatever a record and a message hold,
// one stored line stays small.
func TestHistoryCapsHostileEvaluation(t *testing.T) {
	long := strings.Repeat("x", 10000)
	huge := eval(day0, "192.0.2.1", "example.com")
	huge.RUA = append([]string{"mailto:" + long + "@example.com"}, hostileRUA(3315)...)
	for i := range 500 {
		huge.DKIM = append(huge.DKIM, AuthResult{Domain: long, Selector: fmt.Sprint(i), Result: "fail"})
	}
	huge.SPF = append(huge.SPF, huge.SPF[0], huge.SPF[0])
	huge.OverrideComment, huge.Policy.FO = long, long
	uncapped, _ := json.Marshal(huge)

	tests := []struct {
		name     string
		e        Evaluation
		maxBytes int
		rua      int
	}{
		{"3,315 rua URIs", withRUA(eval(day0, "192.0.2.1", "example.com"), hostileRUA(3315)), 1024, MaxStoredURIs},
		{"every list and string hostile", huge, 40 << 10, MaxStoredURIs},
		{"ordinary", eval(day0, "192.0.2.1", "example.com"), 1024, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			h, err := OpenHistory(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Append(tt.e); err != nil {
				t.Fatal(err)
			}
			h.Close()
			b, err := os.ReadFile(filepath.Join(dir, "dmarc-2026-06-01.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > tt.maxBytes {
				t.Errorf("%d bytes stored, want at most %d", len(b), tt.maxBytes)
			}
			got, warn, err := Read(dir, day0.Add(-time.Hour), day0.Add(time.Hour))
			if err != nil || len(warn) > 0 || len(got) != 1 {
				t.Fatalf("read back %d, %v %v", len(got), warn, err)
			}
			if e := got[0]; len(e.RUA) != tt.rua || len(e.DKIM) > maxStoredDKIM || len(e.SPF) > maxStoredSPF || len(e.OverrideComment) > maxFieldBytes {
				t.Errorf("stored %d URIs (want %d), %d DKIM, %d SPF, %d-byte comment", len(e.RUA), tt.rua, len(e.DKIM), len(e.SPF), len(e.OverrideComment))
			}
			if tt.rua == MaxStoredURIs && got[0].RUA[0] != tt.e.RUA[len(tt.e.RUA)-3315] {
				t.Errorf("first URI kept %q: the first valid-sized URIs are kept, in order", got[0].RUA[0])
			}
		})
	}
	t.Logf("hostile evaluation: %d bytes uncapped", len(uncapped))
}

func withRUA(e Evaluation, rua []string) Evaluation { e.RUA = rua; return e }

// logCounter counts error records, for the once-a-minute rule.
type logCounter struct {
	mu     sync.Mutex
	errors []string
}

func (c *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelError {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	c.mu.Lock()
	c.errors = append(c.errors, b.String())
	c.mu.Unlock()
	return nil
}
func (c *logCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *logCounter) WithGroup(string) slog.Handler      { return c }
func (c *logCounter) lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errors...)
}

// fakeClock is a settable clock for HistoryOptions.now.
type fakeClock struct{ t atomic.Pointer[time.Time] }

func newClock(t time.Time) *fakeClock { c := &fakeClock{}; c.set(t); return c }
func (c *fakeClock) now() time.Time   { return *c.t.Load() }
func (c *fakeClock) set(t time.Time)  { c.t.Store(&t) }

// appendAll appends n evaluations and returns the slowest Append.
func appendAll(t *testing.T, h *History, n int) time.Duration {
	t.Helper()
	var slowest time.Duration
	for i := range n {
		start := time.Now()
		if err := h.Append(eval(day0.Add(time.Duration(i)*time.Millisecond), "192.0.2.1", "example.com")); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(start))
	}
	return slowest
}

// waitFor polls cond for at most 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestHistoryFullDisk: the day file is /dev/full, so every write fails
// with ENOSPC as on a full file system. Mail is not held up (Append is as
// fast as on a working disk), every evaluation is counted as dropped, the
// error is logged once a minute with the count, and the History recovers
// when space is back.
func TestHistoryFullDisk(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("/dev/full: %v", err)
	}
	const n = 2000
	ok, _ := OpenHistoryWith(t.TempDir(), HistoryOptions{QueueSize: n, Log: slog.New(&logCounter{})})
	okSlowest := appendAll(t, ok, n)
	ok.Close()

	dir := t.TempDir()
	day := filepath.Join(dir, "dmarc-2026-06-01.jsonl")
	if err := os.Symlink("/dev/full", day); err != nil {
		t.Fatal(err)
	}
	logs := &logCounter{}
	clock := newClock(day0)
	h, err := OpenHistoryWith(dir, HistoryOptions{Log: slog.New(logs), now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	fullSlowest := appendAll(t, h, n)
	waitFor(t, "the drops", func() bool { return h.Stats().Dropped == n })
	s := h.Stats()
	if s.Written != 0 || s.Errors == 0 || !strings.Contains(h.LastError(), syscall.ENOSPC.Error()) {
		t.Errorf("stats %+v, want every evaluation dropped on ENOSPC", s)
	}
	// Generous: scheduling noise, never a wait for the disk.
	if fullSlowest > 20*okSlowest+50*time.Millisecond {
		t.Errorf("slowest Append %v on a full disk, %v on a working one", fullSlowest, okSlowest)
	}
	if l := logs.lines(); len(l) != 1 || !strings.Contains(l[0], "no space left") {
		t.Fatalf("error log lines %q, want one", l)
	}
	clock.set(day0.Add(61 * time.Second))
	appendAll(t, h, 10)
	waitFor(t, "the drops", func() bool { return h.Stats().Dropped == n+10 })
	// Each line counts the drops since the previous one.
	l := logs.lines()
	if len(l) != 2 {
		t.Fatalf("error log after a minute %q, want a second line", l)
	}
	if sum := droppedIn(l[0]) + droppedIn(l[1]); sum < n || sum > n+10 {
		t.Errorf("the two lines count %d drops, want %d to %d: %q", sum, n, n+10, l)
	}

	// Space is back: the next evaluation is written, on a line of its own.
	os.Remove(day)
	appendAll(t, h, 1)
	waitFor(t, "the write", func() bool { return h.Stats().Written == 1 })
	if got, warn, err := Read(dir, day0.Add(-time.Hour), day0.Add(time.Hour)); err != nil || len(warn) != 0 || len(got) != 1 {
		t.Errorf("after recovery: %d evaluations, %v %v", len(got), warn, err)
	}
}

// droppedIn is the dropped= count of a logCounter line.
func droppedIn(line string) int {
	var n int
	if i := strings.Index(line, " dropped="); i >= 0 {
		fmt.Sscanf(line[i+len(" dropped="):], "%d", &n)
	}
	return n
}

// TestHistoryHungDisk: the day file is a FIFO nobody reads, so the writer's
// open blocks, as on a dead NFS server. Append still returns at once, the
// queue fills, the rest is dropped and counted, and Close does not hang.
func TestHistoryHungDisk(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "dmarc-2026-06-01.jsonl"), 0o600); err != nil {
		t.Fatal(err)
	}
	const queue = 16
	h, err := OpenHistoryWith(dir, HistoryOptions{QueueSize: queue, Log: slog.New(&logCounter{}), closeTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		appendAll(t, h, 500)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Append blocked on a hung disk")
	}
	s := h.Stats()
	// The writer holds one batch (at most 64) in the hung open.
	if s.Dropped < 500-queue-64 || s.Written != 0 {
		t.Errorf("stats %+v, want all but the queue and the writer's batch dropped", s)
	}
	closed := make(chan error, 1)
	go func() { closed <- h.Close() }()
	select {
	case err := <-closed:
		if err == nil || !strings.Contains(err.Error(), "stuck") {
			t.Errorf("Close = %v, want the stuck writer named", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung")
	}
	// Unblock the writer's open so that its goroutine ends with the test.
	if f, err := os.OpenFile(filepath.Join(dir, "dmarc-2026-06-01.jsonl"), os.O_RDONLY, 0); err == nil {
		f.Close()
	}
}

// TestHistoryRetention: day files older than Days are deleted at open and
// every hour; other files are left alone; 0 keeps everything.
func TestHistoryRetention(t *testing.T) {
	now := time.Date(2026, 6, 8, 12, 0, 0, 0, time.UTC)
	names := []string{"dmarc-2026-05-01.jsonl", "dmarc-2026-05-31.jsonl", "dmarc-2026-06-01.jsonl",
		"dmarc-2026-06-08.jsonl", "dmarc-notaday.jsonl", "notes.txt"}
	tests := []struct {
		days int
		kept []string
	}{
		{7, names[2:]},
		{1, names[3:]},
		{0, names},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.days), func(t *testing.T) {
			dir := t.TempDir()
			for _, n := range names {
				os.WriteFile(filepath.Join(dir, n), nil, 0o600)
			}
			clock := newClock(now)
			h, err := OpenHistoryWith(dir, HistoryOptions{Days: tt.days, now: clock.now})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			removed := uint64(len(names) - len(tt.kept))
			waitFor(t, "retention", func() bool { return h.Stats().Removed == removed })
			for _, n := range names {
				_, err := os.Stat(filepath.Join(dir, n))
				want := contains(tt.kept, n)
				if (err == nil) != want {
					t.Errorf("%s: present %v, want %v", n, err == nil, want)
				}
			}
		})
	}
	if _, err := OpenHistoryWith(t.TempDir(), HistoryOptions{Days: -1}); err == nil {
		t.Error("negative days accepted")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestScanHeapBounded: reading a day of 12,000 evaluations into a report
// keeps far less in memory than the history's size (Read+Aggregate held
// every evaluation: about 2.3 KiB of heap per 437-byte line). GOGC is
// lowered while measuring so that the peak is what is live, not garbage
// waiting for the 4 MiB minimum heap target.
func TestScanHeapBounded(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	dir := t.TempDir()
	name := filepath.Join(dir, "dmarc-2026-06-01.jsonl")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	n := 12000
	if raceEnabled {
		n = 1000 // the streaming path runs; the heap is measured without -race
	}
	begin := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		e := eval(begin.Add(time.Duration(i)*time.Second), "192.0.2.1", "example.com")
		e.SourceIP = netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 50)})
		line, _ := jsonLine(e)
		f.Write(line)
	}
	f.Close()
	fi, _ := os.Stat(name)

	var reports []Report
	var warn []string
	peak := peakHeap(func() {
		a := NewAggregator(begin, begin.Add(24*time.Hour))
		warn, err = Scan(dir, begin, begin.Add(24*time.Hour), a.Add)
		reports = a.Reports(us)
	})
	if err != nil || len(warn) > 0 || len(reports) != 1 || reports[0].Records != 50 {
		t.Fatalf("%d reports, warnings %v, %v", len(reports), warn, err)
	}
	t.Logf("%d evaluations, %d bytes of history, peak heap growth %d bytes", n, fi.Size(), peak)
	if !raceEnabled && peak > uint64(fi.Size())/2 {
		t.Errorf("peak heap growth %d bytes for %d bytes of history: not streamed", peak, fi.Size())
	}
}

// peakHeap runs f and returns the highest heap above the start that a
// sampler saw.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > base.HeapAlloc && m.HeapAlloc-base.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc - base.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	return peak.Load()
}

// TestReadLongLinesAndManyWarnings: a line over the read limit is skipped
// without being held, and a file of garbage yields a bounded warning list.
func TestReadLongLinesAndManyWarnings(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	good, _ := jsonLine(eval(day0, "192.0.2.1", "example.com"))
	b.Write(good)
	b.WriteString(`{"x":"` + strings.Repeat("a", maxReadLineBytes+10) + "\"}\n")
	old := withRUA(eval(day0, "192.0.2.2", "example.com"), hostileRUA(3315)) // written before the caps
	oldLine, _ := jsonLine(old)
	b.Write(oldLine)
	for range 500 {
		b.WriteString("garbage\n")
	}
	b.Write(good)
	os.WriteFile(filepath.Join(dir, "dmarc-2026-06-01.jsonl"), []byte(b.String()), 0o600)
	got, warn, err := Read(dir, day0.Add(-time.Hour), day0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || len(got[1].RUA) != 3315 {
		t.Errorf("%d evaluations, want the two good ones and the long old one", len(got))
	}
	if len(warn) != maxWarnings+1 || !strings.Contains(warn[0], ":2: line over") || !strings.Contains(warn[maxWarnings], "401 more") {
		t.Errorf("%d warnings, first %q, last %q", len(warn), warn[0], warn[len(warn)-1])
	}
}
