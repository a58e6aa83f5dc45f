package postfixtest

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"testing"
)

// makeDirs creates the instance's directories. The queue directory itself belongs to
// root (master refuses to run otherwise); data_directory belongs to the mail owner.
//
// The queue_directory subdirectories get the owner, group and mode that Postfix's own
// postfix-files table prescribes. We make them here instead of running "post-install
// create-missing" (what "postfix start" does) because that shell script costs most of a
// second per instance. "" as group means the owner's primary group.
func makeDirs(l layout) error {
	queueDirs := []struct {
		name         string
		owner, group string
		mode         os.FileMode
	}{
		{"active", mailOwner, "", 0o700},
		{"bounce", mailOwner, "", 0o700},
		{"corrupt", mailOwner, "", 0o700},
		{"defer", mailOwner, "", 0o700},
		{"deferred", mailOwner, "", 0o700},
		{"flush", mailOwner, "", 0o700},
		{"hold", mailOwner, "", 0o700},
		{"incoming", mailOwner, "", 0o700},
		{"private", mailOwner, "", 0o700},
		{"saved", mailOwner, "", 0o700},
		{"trace", mailOwner, "", 0o700},
		{"maildrop", mailOwner, setgidGroup, 0o730},
		{"public", mailOwner, setgidGroup, 0o710},
		{"pid", "root", "", 0o755},
	}

	for _, d := range []string{l.config, l.queue, l.tls} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fmt.Errorf("make %s: %w", d, err)
		}
	}
	if err := mkdirOwned(l.data, mailOwner, "", 0o700); err != nil {
		return err
	}
	for _, d := range queueDirs {
		if err := mkdirOwned(l.queue+"/"+d.name, d.owner, d.group, d.mode); err != nil {
			return err
		}
	}
	return nil
}

// mkdirOwned makes dir with exactly mode (no umask) and the given owner and group.
func mkdirOwned(dir, owner, group string, mode os.FileMode) error {
	u, err := user.Lookup(owner)
	if err != nil {
		return fmt.Errorf("look up owner of %s: %w", dir, err)
	}
	gid := u.Gid
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return fmt.Errorf("look up group of %s: %w", dir, err)
		}
		gid = g.Gid
	}
	uidN, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("uid of %s: %w", owner, err)
	}
	gidN, err := strconv.Atoi(gid)
	if err != nil {
		return fmt.Errorf("gid for %s: %w", dir, err)
	}
	if err := os.Mkdir(dir, mode); err != nil {
		return fmt.Errorf("make %s: %w", dir, err)
	}
	if err := os.Chown(dir, uidN, gidN); err != nil {
		return fmt.Errorf("chown %s: %w", dir, err)
	}
	if err := os.Chmod(dir, mode); err != nil { // Mkdir's mode was reduced by the umask
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	return nil
}

// SocketDir returns a new directory, removed when the test ends, where a milter may put
// its unix-domain socket for Options.Milter "unix:DIR/NAME". Postfix's smtpd connects as
// the postfix user, so it needs a path it can traverse (t.TempDir is private to root) and
// a socket it may write to: make the socket itself mode 0666 (Go creates it 0755 under the
// usual umask, and connect(2) on a unix socket needs write permission).
func SocketDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "postfixtest-sock-")
	if err != nil {
		t.Fatalf("postfixtest: make socket directory: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("postfixtest: remove %s: %v", dir, err)
		}
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("postfixtest: %v", err)
	}
	return dir
}
