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
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
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
	t      testing.TB
	port   int
	dir    string
	argv   func(port int) []string
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has been waited for
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
	log, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open redis log: %w", err)
	}
	defer log.Close() // the child has its own copy
	argv := s.argv(s.port)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); close(exited) }(s.exited)

	deadline := time.Now().Add(5 * time.Second)
	for {
		if ping(s.Addr()) == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("redis-server on port %d exited at start:\n%s", s.port, s.log())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("redis-server on port %d did not answer PING within 5s:\n%s", s.port, s.log())
		}
	}
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
	if line != "+PONG\r\n" {
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
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // a paused server dies as well, but be sure
	_ = s.cmd.Process.Kill()
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.t.Errorf("redis-server on port %d did not exit after SIGKILL", s.port)
	}
	s.cmd = nil
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
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("SIGSTOP redis-server: %v", err)
	}
}

func (s *Server) Resume() {
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		s.t.Fatalf("SIGCONT redis-server: %v", err)
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
