package spamdtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
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

// start runs spamd on s.port and waits until it answers PING.
func (s *Server) start() error {
	log, err := os.OpenFile(filepath.Join(s.dir, "spamd.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open spamd log: %w", err)
	}
	defer log.Close() // the child has its own copy
	argv := s.argv()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so that Kill reaches the children spamd forks
	// (they share the listening socket and would go on answering); and
	// death with the test binary, should that be killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); close(exited) }(s.exited)
	return s.waitReady()
}

// waitReady polls with PING until spamd answers, exits, or startTimeout.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for {
		if ping(s.Addr()) == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("spamd on port %d exited at start:\n%s", s.port, s.Log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("spamd on port %d did not answer PING within %v:\n%s", s.port, startTimeout, s.Log())
		}
	}
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
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL) // the group: spamd and its children
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.t.Errorf("spamd on port %d did not exit after SIGKILL", s.port)
	}
	s.cmd = nil
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
