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

// argv is the spamd command line for the port of s.Addr().
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

// launch runs spamd on port and waits until it answers PING. proctest
// gives it its own process group, so that Kill reaches the children spamd
// forks (they share the listening socket and would go on answering).
func (s *Server) launch(port int) (*proctest.Process, error) {
	p, err := proctest.Start(s.argv(), filepath.Join(s.dir, "spamd.log"))
	if err != nil {
		return nil, fmt.Errorf("spamd: %w", err)
	}
	if err := p.WaitReady(startTimeout, 50*time.Millisecond, func() error { return ping(s.Addr()) }); err != nil {
		_ = p.Kill() // and the children it forked
		return nil, fmt.Errorf("spamd on port %d: %w:\n%s", port, err, s.Log())
	}
	return p, nil
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
