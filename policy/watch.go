package policy

import (
	"context"
	"os"
	"slices"
	"time"

	"spamgate/internal/fileid"
)

// Watch polls the files every interval and calls onChange once a change has
// settled: when a poll shows a change (size, modification time or inode,
// or a file appearing or disappearing) and the next poll shows no further
// change. A panel that rewrites a file in several writes, or writes a new
// file and renames it over the old one, thus causes one call, after it is
// done. Polling, since no fsnotify module is available; it also works on
// network file systems.
//
// onChange only signals: the caller reloads (LoadTables, then New) and
// keeps its old policy when the new files are broken. onChange runs on
// Watch's goroutine; polling pauses while it runs. Watch returns when ctx
// is done. A non-positive interval means one second.
func Watch(ctx context.Context, paths []string, every time.Duration, onChange func()) {
	if every <= 0 {
		every = time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	s := settler{last: snapshot(paths)}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if s.observe(snapshot(paths)) {
			onChange()
		}
	}
}

// settler decides, poll by poll, when a change has settled.
type settler struct {
	last    []fileState
	pending bool // a change was seen and has not been reported
}

// observe takes one poll's snapshot and reports whether to call onChange.
func (s *settler) observe(cur []fileState) bool {
	if !slices.Equal(cur, s.last) {
		s.last, s.pending = cur, true // still changing: wait for it to settle
		return false
	}
	fire := s.pending
	s.pending = false
	return fire
}

// fileState is what a poll sees of one file.
type fileState struct {
	exists bool
	size   int64
	mtime  int64 // nanoseconds: time.Time's == would compare locations too
	inode  uint64
}

func snapshot(paths []string) []fileState {
	out := make([]fileState, len(paths))
	for i, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			continue // gone or unreadable: the reload will say why
		}
		out[i] = fileState{exists: true, size: fi.Size(), mtime: fi.ModTime().UnixNano(), inode: fileid.Inode(fi)}
	}
	return out
}
