package recipients

import (
	"context"
	"log/slog"
	"os"
	"spamgate/internal/logbuf"
	"strings"
	"testing"
	"time"
)

// syncBuffer is a log sink that a test reads while Watch writes to it.
type syncBuffer = logbuf.Buffer

// eventually polls cond for up to two seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatchReloadsAndKeepsOldTableWhenBroken(t *testing.T) {
	path := tableFile(t, "alice@example.test\n")
	var logs syncBuffer
	v, err := New(Options{Domains: []string{"example.test"}, Table: path},
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { v.Watch(ctx, 5*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	wantStatus(t, v, "bob@example.test", Unknown)
	// Atomic writes: a slow machine could otherwise settle on a half-written file.
	replaceFile(t, path, "alice@example.test\nbob@example.test\n")
	eventually(t, "bob in the reloaded table", func() bool { return check(t, v, "bob@example.test").Status == Known })

	// A broken file keeps the table in use and says where the problem is.
	replaceFile(t, path, "alice@example.test\ncarol example.test\n")
	eventually(t, "the reload error in the log", func() bool { return strings.Contains(logs.String(), path+":2:") })
	wantStatus(t, v, "bob@example.test", Known)
	wantStatus(t, v, "carol@example.test", Unknown)

	replaceFile(t, path, "carol@example.test\n")
	eventually(t, "carol after the rename", func() bool { return check(t, v, "carol@example.test").Status == Known })
	wantStatus(t, v, "bob@example.test", Unknown)

	// An empty file, as between truncate and write, and a missing one keep the table.
	writeFile(t, path, "")
	eventually(t, "the empty file in the log", func() bool { return strings.Contains(logs.String(), "table is empty") })
	wantStatus(t, v, "carol@example.test", Known)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the missing file in the log", func() bool { return strings.Contains(logs.String(), "no such file") })
	wantStatus(t, v, "carol@example.test", Known)
}

// replaceFile writes a new file and renames it over path, as careful
// exporters do; Watch sees the new inode.
func replaceFile(t *testing.T, path, text string) {
	t.Helper()
	next := path + ".new"
	writeFile(t, next, text)
	if err := os.Rename(next, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatchWithoutTableReturns(t *testing.T) {
	v, err := New(Options{Domains: []string{"example.test"}, LDAP: &LDAPOptions{
		URL: "ldap://127.0.0.1:1", BaseDN: "dc=example,dc=test"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.Watch(context.Background(), time.Millisecond) // must not block
}
