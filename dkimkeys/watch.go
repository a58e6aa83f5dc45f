package dkimkeys

import (
	"context"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"spamgate/internal/fileid"
)

// deepEvery is how many polls apart the watch also stats every key file
// (a key rewritten in place, a chmod): the other polls stat only the
// directories, which costs a third as much at 10,000 domains.
const deepEvery = 30

// Watch polls the directory every interval and reloads once a change has
// settled: one poll sees a change and the next sees no further one, so a
// panel writing many domains in a row causes one reload, after it is done.
// A poll stats the domain directories, whose modification time changes
// when a file is added, removed or renamed (keygen, rotate, and any writer
// that renames a finished file into place); every deepEvery-th poll stats
// every file too. Polling, since inotify does not reach into network file
// systems and would need a watch per domain. A poll parses nothing. It
// returns when ctx is done, and does nothing when interval is not positive
// (SIGHUP only).
func (t *Table) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last, pending := t.scanned.Load(), false
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cur := last
		if cur.dirs = fingerprint(t.dir, false); n%deepEvery == 0 {
			cur.files = fingerprint(t.dir, true)
		}
		if cur != last {
			last, pending = cur, true // still changing: wait for it to settle
			continue
		}
		if pending {
			pending = false
			_ = t.Reload() // logged; a broken file keeps its domain as it was
			last = t.scanned.Load()
		}
	}
}

// prints are the two fingerprints of the directory.
type prints struct{ dirs, files uint64 }

func (t *Table) takePrints() {
	t.scanned.Store(prints{fingerprint(t.dir, false), fingerprint(t.dir, true)})
}

// fingerprint hashes the names, sizes, modification times, inodes and
// modes of everything under dir, two levels deep. With deep false only the
// directories are looked at: their modification time changes when a file
// in them is added, removed or renamed (how keygen, rotate and any careful
// writer replace a file), at a third of the cost.
func fingerprint(dir string, deep bool) uint64 {
	h := fnv.New64a()
	var buf []byte
	add := func(path string, fi os.FileInfo) {
		buf = append(buf[:0], path...)
		buf = strconv.AppendInt(append(buf, 0), fi.Size(), 10)
		buf = strconv.AppendInt(append(buf, 0), fi.ModTime().UnixNano(), 10)
		buf = strconv.AppendUint(append(buf, 0), fileid.Inode(fi), 10)
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
		if !deep {
			continue
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

// atomicPrints is a prints read by Watch while a SIGHUP's Reload writes it.
type atomicPrints struct{ p atomic.Pointer[prints] }

func (a *atomicPrints) Store(p prints) { a.p.Store(&p) }

func (a *atomicPrints) Load() prints {
	if p := a.p.Load(); p != nil {
		return *p
	}
	return prints{}
}
