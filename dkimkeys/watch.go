package dkimkeys

import (
	"context"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Watch polls the directory every interval and reloads once a change has
// settled: one poll sees a change (a file or domain added, removed,
// renamed, rewritten or chmod-ed) and the next sees no further one, so a
// panel writing many domains in a row causes one reload, after it is done.
// Polling, since inotify does not reach into network file systems and
// would need a watch per domain directory. A poll reads the directories and
// stats their files; it parses nothing. It returns when ctx is done, and
// does nothing when interval is not positive (SIGHUP only).
func (t *Table) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last, pending := fingerprint(t.dir), false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cur := fingerprint(t.dir)
		if cur != last {
			last, pending = cur, true // still changing: wait for it to settle
			continue
		}
		if pending {
			pending = false
			_ = t.Reload() // logged; a broken file keeps its domain as it was
		}
	}
}

// fingerprint hashes the names, sizes, modification times, inodes and
// modes of everything under dir, two levels deep.
func fingerprint(dir string) uint64 {
	h := fnv.New64a()
	var buf []byte
	add := func(path string, fi os.FileInfo) {
		buf = append(buf[:0], path...)
		buf = strconv.AppendInt(append(buf, 0), fi.Size(), 10)
		buf = strconv.AppendInt(append(buf, 0), fi.ModTime().UnixNano(), 10)
		buf = strconv.AppendUint(append(buf, 0), inode(fi), 10)
		buf = strconv.AppendUint(append(buf, 0), uint64(fi.Mode()), 10)
		h.Write(append(buf, '\n'))
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	for _, de := range des {
		if !isDir(dir, de) {
			continue
		}
		ddir := filepath.Join(dir, de.Name())
		if fi, err := os.Stat(ddir); err == nil {
			add(ddir, fi)
		}
		files, _ := os.ReadDir(ddir)
		for _, f := range files {
			path := filepath.Join(ddir, f.Name())
			fi, err := f.Info()
			if err == nil && f.Type()&os.ModeSymlink != 0 {
				fi, err = os.Stat(path) // a shared key changes at its target
			}
			if err == nil {
				add(path, fi)
			}
		}
	}
	return h.Sum64()
}
