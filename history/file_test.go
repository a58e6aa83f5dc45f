package history

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"spamgate/internal/logbuf"
)

func openFileStore(t *testing.T, dir string, clk *clock, maxBytes int64) *FileStore {
	t.Helper()
	s, err := OpenFile(FileOptions{Dir: dir, Days: 14, MaxBytes: maxBytes, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestFileStore(t *testing.T) {
	storeContract(t, func(t *testing.T, clk *clock) syncer { return openFileStore(t, t.TempDir(), clk, 64<<20) })
}

func TestFileStoreRestart(t *testing.T) {
	dir, clk := t.TempDir(), newClock()
	s := openFileStore(t, dir, clk, 64<<20)
	for i := range 10 {
		s.Add(rec(clk.Now().Add(time.Duration(i)*time.Second), "192.0.2.1", "a@b.example", "", accepted("x@corp.test")))
	}
	if err := s.Close(); err != nil { // Close flushes: no Sync
		t.Fatal(err)
	}
	s2 := openFileStore(t, dir, clk, 64<<20)
	s2.Add(rec(clk.Now().Add(time.Minute), "192.0.2.2", "a@b.example", "", accepted("x@corp.test")))
	s2.Sync()
	if got := mustQuery(t, s2, Filter{}); len(got) != 11 || got[0].Client != "192.0.2.2" {
		t.Fatalf("after a restart: %d records (want 11, newest first): %v", len(got), queueIDs(got))
	}
	// The restart appends to a new segment, never to one a crash may have cut.
	if n := s2.Counters().SegmentsKept; n != 2 {
		t.Errorf("%d segments, want 2", n)
	}
	info, _ := os.Stat(filepath.Join(dir, s2.curSeg.name))
	if info.Mode().Perm() != 0o600 {
		t.Errorf("segment mode %v: addresses are customer data, want 0600", info.Mode().Perm())
	}
}

func TestFileStoreExpiry(t *testing.T) {
	dir, clk := t.TempDir(), newClock()
	s := openFileStore(t, dir, clk, 64<<20)
	for day := range 20 {
		s.Add(rec(clk.Now(), "192.0.2.1", "a@b.example", "", accepted(fmt.Sprintf("d%d@corp.test", day))))
		s.Sync()
		clk.Add(24 * time.Hour)
		s.tick(clk.Now()) // the writer's minute tick, run now
	}
	// Days = 14: the segment of day 5 (15 days ago, its hour ended
	// 14 days 23 h ago) is gone; the 14 younger ones stay.
	got := mustQuery(t, s, Filter{Limit: 100})
	if len(got) != 14 {
		t.Fatalf("%d records after expiry, want 14", len(got))
	}
	if c := s.Counters(); c.RemovedAge != 6 || c.SegmentsKept != 14 {
		t.Errorf("counters %+v: want 6 removed for age, 14 kept", c)
	}
	// A restart expires too, before anything is written.
	s.Close()
	clk.Add(10 * 24 * time.Hour)
	s2 := openFileStore(t, dir, clk, 64<<20)
	if n := s2.Counters().SegmentsKept; n != 4 {
		t.Errorf("after 10 more days and a restart: %d segments, want 4", n)
	}
}

func TestFileStoreSizeCap(t *testing.T) {
	dir, clk := t.TempDir(), newClock()
	const maxBytes = 1 << 20 // segments of 256 KiB
	s := openFileStore(t, dir, clk, maxBytes)
	pad := strings.Repeat("x", 400)
	const n = 8000 // about 4 MiB
	for i := range n {
		r := rec(clk.Now().Add(time.Duration(i)*time.Millisecond), "192.0.2.1", pad+"@b.example", "", accepted(fmt.Sprintf("r%d@corp.test", i)))
		s.Add(r)
		if i%1000 == 999 {
			s.Sync()
		}
	}
	s.Sync()
	c := s.Counters()
	if c.SizeBytes > maxBytes || c.RemovedSize == 0 || c.Written != n {
		t.Fatalf("counters %+v: want size <= %d, removals by size, %d written", c, maxBytes, n)
	}
	var onDisk int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		info, _ := e.Info()
		onDisk += info.Size()
	}
	if onDisk != c.SizeBytes {
		t.Errorf("on disk %d bytes, counted %d", onDisk, c.SizeBytes)
	}
	if got := mustQuery(t, s, Filter{Recipient: fmt.Sprintf("r%d@", n-1)}); len(got) != 1 {
		t.Errorf("newest record gone")
	}
	if got := mustQuery(t, s, Filter{Recipient: "r0@"}); len(got) != 0 {
		t.Errorf("oldest record kept past the cap")
	}
}

func TestFileStoreDamage(t *testing.T) {
	dir, clk := t.TempDir(), newClock()
	s := openFileStore(t, dir, clk, 64<<20)
	for i := range 5 {
		s.Add(rec(clk.Now().Add(time.Duration(i)*time.Second), "192.0.2.1", "a@b.example", "", accepted(fmt.Sprintf("r%d@corp.test", i))))
	}
	s.Close()
	name := filepath.Join(dir, s.curSeg.name)
	data, _ := os.ReadFile(name)
	lines := bytes.SplitAfter(data, []byte("\n"))
	lines[1] = bytes.Replace(lines[1], []byte("r1@"), []byte("R1@"), 1) // a flipped bit: checksum fails
	lines[2] = []byte("garbage without a newline, then a real line\n")
	lines[4] = lines[4][:len(lines[4])/2] // cut short by a crash
	if err := os.WriteFile(name, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "20261207T10-0099.log"), []byte{0, 1, 2, 0xff, '\n', '\n'}, 0o600)
	os.WriteFile(filepath.Join(dir, "README"), []byte("not a segment"), 0o600)

	var logs logbuf.Buffer
	s2, err := OpenFile(FileOptions{Dir: dir, Days: 14, MaxBytes: 64 << 20, Now: clk.Now, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got := mustQuery(t, s2, Filter{})
	var rcpts []string
	for _, r := range got {
		rcpts = append(rcpts, r.Recipients[0].Addr)
	}
	if !slices.Equal(rcpts, []string{"r3@corp.test", "r0@corp.test"}) {
		t.Errorf("records read: %v, want r3 and r0 (the others damaged)", rcpts)
	}
	if c := s2.Counters(); c.Corrupt != 4 {
		t.Errorf("%d damaged records counted, want 4 (2 lines of the segment, 2 of the junk file; the torn last line is not damage)", c.Corrupt)
	}
	mustQuery(t, s2, Filter{})
	if n := strings.Count(logs.String(), "damaged records skipped"); n != 2 {
		t.Errorf("damage logged %d times, want once per file:\n%s", n, logs.String())
	}
	// New writes still work beside the damage.
	s2.Add(rec(clk.Now().Add(time.Hour), "192.0.2.1", "a@b.example", "", accepted("new@corp.test")))
	s2.Sync()
	if got := mustQuery(t, s2, Filter{Recipient: "new@"}); len(got) != 1 {
		t.Errorf("new record not found")
	}
}

// TestFileStoreWriteFailure: a directory gone (as good as a full disk for
// the writer) drops records and counts them; Add never blocks, and
// writing resumes once the directory is back.
func TestFileStoreWriteFailure(t *testing.T) {
	dir, clk := t.TempDir(), newClock()
	var logs logbuf.Buffer
	s, err := OpenFile(FileOptions{Dir: dir, Days: 14, MaxBytes: 64 << 20, Now: clk.Now, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Add(rec(clk.Now(), "192.0.2.1", "a@b.example", "", accepted("x@corp.test")))
	s.Sync()
	os.RemoveAll(dir)
	clk.Add(time.Hour) // the next write opens a new segment, and fails
	for range 3 {
		s.Add(rec(clk.Now(), "192.0.2.1", "a@b.example", "", accepted("x@corp.test")))
		s.Sync()
	}
	if c := s.Counters(); c.DroppedError != 3 || c.Written != 1 || !c.LastWriteFail {
		t.Fatalf("counters %+v: want 3 dropped by errors, 1 written", c)
	}
	if n := strings.Count(logs.String(), "write failed"); n != 1 {
		t.Errorf("failure logged %d times, want once:\n%s", n, logs.String())
	}
	os.Mkdir(dir, 0o700)
	s.Add(rec(clk.Now(), "192.0.2.1", "a@b.example", "", accepted("back@corp.test")))
	s.Sync()
	if c := s.Counters(); c.Written != 2 || c.LastWriteFail {
		t.Errorf("counters %+v: writing did not resume", c)
	}
}

func TestOpenFileNoParent(t *testing.T) {
	if _, err := OpenFile(FileOptions{Dir: filepath.Join(t.TempDir(), "no", "history"), Days: 14, MaxBytes: 1 << 20}); err == nil {
		t.Fatal("a history_dir without its parent was made")
	}
}

func TestOpenFileUnwritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o600)
	if _, err := OpenFile(FileOptions{Dir: filepath.Join(file, "history"), Days: 14, MaxBytes: 1 << 20}); err == nil {
		t.Fatal("a history_dir under a file opened")
	}
}
