package socketmap_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"spamgate/internal/postfixtest"
	"spamgate/socketmap"
)

// postmapBin is where Debian's postfix package installs postmap(1).
const postmapBin = "/usr/sbin/postmap"

// postmap runs "postmap -q query socketmap:inet:ADDR:mapName" (query "-" reads keys
// from stdin) against a private, empty main.cf, and returns its stdout, stderr and exit
// status. Postfix errors ("fatal:") take a second: Postfix sleeps before it exits.
func postmap(t *testing.T, addr, mapName, query, stdin string) (string, string, int) {
	t.Helper()
	dir := configDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, postmapBin, "-c", dir, "-q", query, "socketmap:inet:"+addr+":"+mapName)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return stdout.String(), stderr.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("postmap: %v", err)
	}
	return stdout.String(), stderr.String(), 0
}

// configDir returns a directory with an empty main.cf, backdated: Postfix does not
// trust a main.cf changed in the last two seconds and sleeps until it is older.
func configDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "main.cf")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(file, old, old); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Postfix's own socketmap client reads our replies: OK gives the value, NOTFOUND exit
// status 1, TEMP and PERM a query error naming the reason.
func TestPostmap(t *testing.T) {
	postfixtest.Require(t)
	t.Parallel()
	s := startServer(t, testHandler, nil)
	tests := []struct {
		name, mapName, key string
		stdout, stderr     string
		status             int
	}{
		{"found", "tlspolicy", "example.org", "secure match=mx.example.org\n", "", 0},
		{"not found", "tlspolicy", "nowhere.example", "", "", 1},
		{"temp", "fail", "example.org", "", "temporary error", 1},
		{"perm", "other", "example.org", "", "unknown map other", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, status := postmap(t, s.addr, tt.mapName, tt.key, "")
			if stdout != tt.stdout || status != tt.status || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("postmap -q %s: stdout %q, stderr %q, exit %d; want stdout %q, stderr with %q, exit %d",
					tt.key, stdout, stderr, status, tt.stdout, tt.stderr, tt.status)
			}
		})
	}
}

// "postmap -q -" sends every key of its input over one connection.
func TestPostmapManyKeys(t *testing.T) {
	postfixtest.Require(t)
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &countingListener{Listener: inner}
	s := socketmap.NewServer(testHandler, testLogger(t))
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	stdout, stderr, status := postmap(t, ln.Addr().String(), "tlspolicy", "-", "example.org\nnowhere.example\ndane.example\n")
	want := "example.org\tsecure match=mx.example.org\ndane.example\tdane\n"
	if stdout != want || status != 0 {
		t.Errorf("postmap -q -: stdout %q, stderr %q, exit %d; want %q", stdout, stderr, status, want)
	}
	if n := ln.accepted.Load(); n != 1 {
		t.Errorf("%d connections for 3 keys, want 1", n)
	}
}

// countingListener counts the connections accepted.
type countingListener struct {
	net.Listener
	accepted atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}
