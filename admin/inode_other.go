//go:build !unix

package admin

import "os"

// inode is not available here; size and modification time remain.
func inode(os.FileInfo) uint64 { return 0 }
