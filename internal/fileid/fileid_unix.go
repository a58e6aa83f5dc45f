//go:build unix

// Package fileid tells one version of a file from another: the watchers of
// table, key and users files compare size, modification time and inode.
package fileid

import (
	"os"
	"syscall"
)

// Inode tells a file renamed over the old one even when its size and
// modification time are the same.
func Inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino) // Ino is uint32 on some systems
	}
	return 0
}
