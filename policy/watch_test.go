package policy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestSettler(t *testing.T) {
	a := []fileState{{exists: true, size: 1, mtime: 1, inode: 1}}
	b := []fileState{{exists: true, size: 2, mtime: 2, inode: 1}}
	c := []fileState{{exists: true, size: 2, mtime: 2, inode: 9}} // renamed over, same size and time
	gone := []fileState{{}}
	tests := []struct {
		name  string
		polls [][]fileState
		fires []bool
	}{
		{"no change", [][]fileState{a, a, a}, []bool{false, false, false}},
		{"one change settles", [][]fileState{b, b, b}, []bool{false, true, false}},
		{"a burst of changes fires once, after it", [][]fileState{b, a, b, c, c, c}, []bool{false, false, false, false, true, false}},
		{"a new inode is a change", [][]fileState{c, c}, []bool{false, true}},
		{"removal is a change", [][]fileState{gone, gone, a, a}, []bool{false, true, false, true}},
		{"a change back is still a change", [][]fileState{b, a, a}, []bool{false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := settler{last: a}
			for i, poll := range tt.polls {
				if got := s.observe(poll); got != tt.fires[i] {
					t.Fatalf("poll %d: fire = %v, want %v", i, got, tt.fires[i])
				}
			}
		})
	}
}

// watcher runs Watch for a test and counts its calls.
type watcher struct {
	calls   atomic.Int32
	changed chan struct{}
}

// startWatch runs Watch on paths plus a file of its own until the test ends.
// It returns once Watch has seen a change of that file: then Watch is
// surely polling, however slow the machine.
func startWatch(t *testing.T, paths ...string) *watcher {
	t.Helper()
	prime := filepath.Join(t.TempDir(), "prime")
	w := &watcher{changed: make(chan struct{}, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Watch(ctx, append(paths, prime), 5*time.Millisecond, func() {
			w.calls.Add(1)
			w.changed <- struct{}{}
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done // Watch returns once ctx is done
	})
	for i := 0; ; i++ {
		replace(t, prime, fmt.Sprint(i))
		select {
		case <-w.changed:
			w.settle()
			return w
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// settle waits until no call has come for a while, then forgets the calls.
func (w *watcher) settle() {
	for {
		select {
		case <-w.changed:
		case <-time.After(100 * time.Millisecond):
			w.calls.Store(0)
			return
		}
	}
}

func (w *watcher) wait(t *testing.T, what string) {
	t.Helper()
	select {
	case <-w.changed:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no onChange call", what)
	}
}

// quiet checks that no further call comes for a while.
func (w *watcher) quiet(t *testing.T, want int32) {
	t.Helper()
	time.Sleep(50 * time.Millisecond)
	if n := w.calls.Load(); n != want {
		t.Errorf("%d onChange calls, want %d", n, want)
	}
}

// replace writes a file the way a careful panel does: a new file renamed
// over the old, so that a poll sees either the old or the new one.
func replace(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	write(t, tmp, text)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	table := filepath.Join(dir, "tls-customers")
	later := filepath.Join(dir, "later")
	write(t, table, "example.org require_tls=yes\n")
	w := startWatch(t, table, later)

	w.quiet(t, 0)

	// Appending in one write changes size and modification time at once.
	f, err := os.OpenFile(table, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("example.net require_tls=yes\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	w.wait(t, "append")
	w.quiet(t, 1)

	// Renamed over the old file with the same size and modification time:
	// only the inode tells.
	st, err := os.Stat(table)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, ".tls-customers.tmp")
	write(t, tmp, "example.org require_tls=yes\nexample.net require_tls=off\n") // same size
	if err := os.Chtimes(tmp, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, table); err != nil {
		t.Fatal(err)
	}
	w.wait(t, "rename over")
	w.quiet(t, 2)

	replace(t, later, "* greylist=never\n")
	w.wait(t, "file appears")

	if err := os.Remove(table); err != nil {
		t.Fatal(err)
	}
	w.wait(t, "file removed")
	w.quiet(t, 4)
}

func TestWatchStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Watch(ctx, []string{filepath.Join(t.TempDir(), "none")}, 0, func() { t.Error("onChange without a change") })
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return when its context ended")
	}
}
