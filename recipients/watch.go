package recipients

import (
	"context"
	"os"
	"time"

	"spamgate/internal/fileid"
)

// Watch polls the table file every interval (one second if not positive)
// and reloads it once a change has settled: a poll shows a change (size,
// modification time, inode, or the file appearing or disappearing) and
// the next shows no further change, so that an editor or a panel writing
// in several steps causes one reload, after it is done. A broken file
// keeps the old table; the error, with FILE:LINE, is logged. So does an
// empty file (0 bytes) when the old table had entries. Polling,
// since it also works on network file systems.
//
// Run one Watch per Validator. It returns when ctx is done, or at once
// without a table.
func (v *Validator) Watch(ctx context.Context, interval time.Duration) {
	if v.path == "" {
		return
	}
	if interval <= 0 {
		interval = time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last, pending := v.loaded, false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cur := stat(v.path)
		if cur != last {
			last, pending = cur, true // still changing: wait for it to settle
			continue
		}
		if pending {
			pending = false
			v.reload(cur)
		}
	}
}

func (v *Validator) reload(cur fileState) {
	old := len(v.table.Load().entries)
	if cur.exists && cur.size == 0 && old > 0 {
		// Most likely caught between truncate and write; an empty table
		// would reject every recipient with a permanent error.
		v.log.Warn("recipient table is empty; keeping the old one until it has content",
			"file", v.path, "entries", old)
		return
	}
	t, err := loadTable(v.path)
	if err != nil {
		v.log.Error("recipient table not reloaded; keeping the old one", "file", v.path, "err", err)
		return
	}
	v.setTable(t)
	v.log.Info("recipient table reloaded", "file", v.path, "entries", len(t.entries))
}

// fileState is what a poll sees of the file.
type fileState struct {
	exists bool
	size   int64
	mtime  int64 // nanoseconds: time.Time's == would compare locations too
	inode  uint64
}

func stat(path string) fileState {
	fi, err := os.Stat(path)
	if err != nil {
		return fileState{} // gone or unreadable: the reload will say why
	}
	return fileState{exists: true, size: fi.Size(), mtime: fi.ModTime().UnixNano(), inode: fileid.Inode(fi)}
}
