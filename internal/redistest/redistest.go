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
	proctest.Server // Port, Addr, Kill, Restart (its data is gone), Pause, Resume
	t               testing.TB
	dir             string
	argv            func(port int) []string
	// ready is what launch waits for: a PING answered, in clear (ping)
	// or over TLS (StartTLS).
	ready func(addr string) error
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
	return startReady(t, t.TempDir(), argv, ping)
}

// startReady is StartWith in dir, waiting for ready.
func startReady(t testing.TB, dir string, argv func(dir string, port int) []string, ready func(addr string) error) *Server {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("redis-server is needed for these tests: %v; %s", err, installHint)
	}
	s := &Server{t: t, dir: dir, argv: func(port int) []string { return argv(dir, port) }, ready: ready}
	if err := s.Run(t, "redis-server", s.launch); err != nil {
		t.Fatalf("%v", err)
	}
	return s
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int { return proctest.FreePort(t) }

// launch runs the server on port and waits until it answers.
func (s *Server) launch(port int) (*proctest.Process, error) {
	p, err := proctest.Start(s.argv(port), filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	if err := p.WaitReady(5*time.Second, 5*time.Millisecond, func() error { return s.ready(s.Addr()) }); err != nil {
		return nil, fmt.Errorf("redis-server on port %d: %w:\n%s", port, err, s.log())
	}
	return p, nil
}

// ping sends PING in RESP by hand, so that the harness does not depend on
// the client under test.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return err
	}
	return pingOn(c)
}

// pingOn sends PING on c and closes it.
func pingOn(c net.Conn) error {
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

func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	return string(b)
}

// Client is a client for setting up test data, separate from the Source.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Dir is the server's working directory.
func (s *Server) Dir() string { return s.dir }
