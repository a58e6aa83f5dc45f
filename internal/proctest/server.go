package proctest

import (
	"net"
	"strconv"
	"testing"
	"time"
)

// Server is a server process on a loopback port, for the rigs to embed: it
// is started on a free port, killed as a crash would, restarted on the same
// port, frozen and thawed. The rig gives Run the way to launch it.
type Server struct {
	t      testing.TB
	name   string // for messages: "redis-server", "slapd", "spamd"
	port   int
	proc   *Process // nil once killed
	launch func(port int) (*Process, error)
}

// Run starts the server on a free loopback port; launch starts the process
// on port and waits until it answers. Three ports are tried: a free one may
// be taken before the server binds it. The server is killed when the test
// ends.
func (s *Server) Run(t testing.TB, name string, launch func(port int) (*Process, error)) error {
	s.t, s.name, s.launch = t, name, launch
	t.Cleanup(s.Kill)
	var err error
	for range 3 {
		s.port = FreePort(t)
		if err = s.start(); err == nil {
			return nil
		}
	}
	return err
}

func (s *Server) start() error {
	p, err := s.launch(s.port)
	if err != nil {
		return err
	}
	s.proc = p
	return nil
}

// Port is the server's TCP port.
func (s *Server) Port() int { return s.port }

// Addr is the server's "127.0.0.1:PORT".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Kill stops the server at once, as a crash would, and waits until the
// port refuses connections, so that Restart can bind it again (spamd's
// children die a moment after the parent that was waited for).
func (s *Server) Kill() {
	if s.proc == nil {
		return
	}
	if err := s.proc.Kill(); err != nil {
		s.t.Errorf("%s on port %d: %v", s.name, s.port, err)
	}
	s.proc = nil
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", s.Addr(), 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
	}
	s.t.Errorf("port %d still accepts after %s was killed", s.port, s.name)
}

// Restart starts the server again on the same port.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		s.t.Fatalf("%s: restart: %v", s.name, err)
	}
}

// Pause freezes the server: the kernel still accepts connections, but
// nothing is answered, as with a hung server.
func (s *Server) Pause() {
	s.t.Helper()
	if s.proc == nil {
		s.t.Fatalf("%s: Pause: not running", s.name)
	}
	if err := s.proc.Pause(); err != nil {
		s.t.Fatalf("%s: %v", s.name, err)
	}
}

// Resume undoes Pause.
func (s *Server) Resume() {
	s.t.Helper()
	if s.proc == nil {
		s.t.Fatalf("%s: Resume: not running", s.name)
	}
	if err := s.proc.Resume(); err != nil {
		s.t.Fatalf("%s: %v", s.name, err)
	}
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
