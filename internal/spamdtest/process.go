package spamdtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"spamgate/internal/proctest"
)

// argv is the spamd command line for s.port.
func (s *Server) argv() []string {
	argv := []string{Binary,
		"--listen=" + s.Addr(),
		"--allowed-ips=127.0.0.1",
		"--nouser-config",  // no ~/.spamassassin: same result for every user
		"--local",          // no DNS, no network tests
		"--max-children=1", // tests ask one thing at a time; fewer forks at start
		"--configpath=" + RulesDir,
		"--siteconfigpath=" + filepath.Join(s.dir, "site"),
		"--pidfile=" + filepath.Join(s.dir, "spamd.pid"),
		"--syslog=stderr", // into spamd.log, to show on failure
	}
	if os.Geteuid() == 0 {
		// spamd refuses to scan as root; nobody is there on every Debian.
		argv = append(argv, "--username=nobody")
	}
	return argv
}

// start runs spamd on s.port and waits until it answers PING. proctest
// gives it its own process group, so that Kill reaches the children spamd
// forks (they share the listening socket and would go on answering).
func (s *Server) start() error {
	p, err := proctest.Start(s.argv(), filepath.Join(s.dir, "spamd.log"))
	if err != nil {
		return fmt.Errorf("spamd: %w", err)
	}
	s.proc = p
	if err := p.WaitReady(startTimeout, 50*time.Millisecond, func() error { return ping(s.Addr()) }); err != nil {
		s.proc = nil
		s.waitClosed()
		return fmt.Errorf("spamd on port %d: %w:\n%s", s.port, err, s.Log())
	}
	return nil
}

// ping speaks the protocol by hand, so that the rig does not depend on the
// client under test.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING SPAMC/1.5\r\n\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "SPAMD/1.5 0 PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Kill stops spamd and its children at once, as a crash would, and waits
// until the port refuses connections.
func (s *Server) Kill() {
	if s.proc == nil {
		return
	}
	if err := s.proc.Kill(); err != nil {
		s.t.Errorf("spamd on port %d: %v", s.port, err)
	}
	s.proc = nil
	s.waitClosed()
}

// waitClosed waits until nothing accepts on the port: the children die
// a moment after the parent that was waited for.
func (s *Server) waitClosed() {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		c, err := net.DialTimeout("tcp", s.Addr(), 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Errorf("port %d still accepts after spamd was killed", s.port)
}
