//go:build unix

package admin

import (
	"os"
	"syscall"
)

// inode tells a file renamed over the old one even when its size and
// modification time are the same.
func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino) // Ino is uint32 on some systems
	}
	return 0
}
