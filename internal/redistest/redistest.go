// Package redistest runs a real, throwaway redis-server (Debian's) on a
// loopback port for tests: started on a free port, waited for until it
// answers PING, killed when the test ends. It fails the test, never skips
// it, when redis-server is missing.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"spamgate/internal/proctest"
)

// Binary is Debian's redis-server, absolute on purpose: /usr/bin is
// not on every test runner's PATH, and another redis-server could behave
// differently.
const Binary = "/usr/bin/redis-server"

// installHint is what a developer runs to get redis-server.
const installHint = "run scripts/test-deps.sh as root (make deps), or: apt-get update && " +
	"DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server redis-tools"

// redisServer is a throwaway redis-server on a loopback port, killed when
// the test ends. Nothing is saved to disk.
type Server struct {
	t    testing.TB
	port int
	dir  string
	argv func(port int) []string
	proc *proctest.Process // nil once killed
}

// Start starts a plain redis-server; extra are more "--name value"
// arguments.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	return StartWith(t, func(dir string, port int) []string {
		return append([]string{Binary,
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir,
		}, extra...)
	})
}

// StartWith runs redis-server with the arguments argv gives for a free
// loopback port and waits until it answers PING. It fails the test, never
// skips it, when redis-server is not installed: a skipped test looks like a
// passed one in CI.
func StartWith(t testing.TB, argv func(dir string, port int) []string) *Server {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("redis-server is needed for these tests: %v; %s", err, installHint)
	}
	dir := t.TempDir()
	s := &Server{t: t, dir: dir, argv: func(port int) []string { return argv(dir, port) }}
	t.Cleanup(s.Kill)
	var err error
	for range 3 { // the free port may be taken before redis-server binds it
		s.port = FreePort(t)
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("%v", err)
	return nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs the server on s.port and waits until it answers.
func (s *Server) start() error {
	p, err := proctest.Start(s.argv(s.port), filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return fmt.Errorf("redis-server: %w", err)
	}
	s.proc = p
	if err := p.WaitReady(5*time.Second, 5*time.Millisecond, func() error { return ping(s.Addr()) }); err != nil {
		s.proc = nil
		return fmt.Errorf("redis-server on port %d: %w:\n%s", s.port, err, s.log())
	}
	return nil
}

// ping sends PING in RESP by hand, so that the harness does not depend on
// the client under test.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	// A server with requirepass answers NOAUTH: it is up all the same.
	if line != "+PONG\r\n" && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Addr is the server's "127.0.0.1:PORT".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	return string(b)
}

// Kill stops the server at once, as a crash would, and waits until it is
// gone so that the port is free for restart.
func (s *Server) Kill() {
	if s.proc == nil {
		return
	}
	if err := s.proc.Kill(); err != nil {
		s.t.Errorf("redis-server on port %d: %v", s.port, err)
	}
	s.proc = nil
}

// Restart starts a new server on the same port; its data is gone.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		s.t.Fatalf("restart: %v", err)
	}
}

// Pause freezes the server: connections are accepted by the kernel, but
// nothing is answered, as with a server stuck in a long command or swapping.
func (s *Server) Pause() {
	s.t.Helper()
	if err := s.proc.Pause(); err != nil {
		s.t.Fatalf("redis-server: %v", err)
	}
}

// Resume undoes Pause.
func (s *Server) Resume() {
	s.t.Helper()
	if err := s.proc.Resume(); err != nil {
		s.t.Fatalf("redis-server: %v", err)
	}
}

// Client is a client for setting up test data, separate from the Source.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Port is the server's TCP port.
func (s *Server) Port() int { return s.port }

// Dir is the server's working directory.
func (s *Server) Dir() string { return s.dir }
