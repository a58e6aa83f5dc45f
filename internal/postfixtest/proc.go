package postfixtest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a server program started by the rig: Postfix's master or smtp-sink.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been waited for
	err    error         // Wait's result; read only after exited is closed
}

// startProc runs argv in its own process group (so that it and every child it forks can be
// killed at once) with stdout and stderr appended to logPath.
func startProc(logPath string, argv ...string) (*proc, error) {
	out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", logPath, err)
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// stop kills the process and every process of its group with SIGKILL, and waits until
// they are gone. The instances are thrown away, so there is nothing to shut down
// gracefully, and a graceful stop can hang: on SIGTERM (what "postfix stop" sends),
// master first kills its children, postlogd included, and then logs "terminating" to
// the postlog socket that nobody reads any more; once that socket's queue is full, master
// blocks in sendto for good (seen in about one stop in ten), and "postfix stop" would
// wait five seconds before it too resorts to SIGKILL.
func (p *proc) stop(limit time.Duration) {
	pgid := p.cmd.Process.Pid // Setpgid: the group id is the leader's pid
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(limit):
	}
	waitGroupGone(pgid, limit)
}

// waitGroupGone waits until no live process of group pgid is left, so that a test that
// ends leaves no Postfix daemon behind holding files in a directory about to be removed.
func waitGroupGone(pgid int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for groupAlive(pgid) && time.Now().Before(deadline) {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(5 * time.Millisecond)
	}
}

// groupAlive reports whether a process of group pgid is still running. It reads /proc
// rather than probing with kill(-pgid, 0) because master's children become zombies when
// master exits and stay so until init reaps them, which in our containers takes more than
// a second; a zombie holds no files and runs no code, so it does not count.
func groupAlive(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return syscall.Kill(-pgid, 0) == nil
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may contain anything, so split after
		// its closing parenthesis.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) >= 3 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}

// waitListening polls until process p listens on addr (an IPv4 "HOST:PORT"), p exits, or
// timeout passes. Polling beats sleeping: the servers bind within milliseconds.
//
// It looks rather than knocks: a test connection would reach Postfix's smtpd and through
// it the test's milter, which would then count a session that the test never made.
// Looking at p's own sockets also tells our server apart from another test's that may
// have won a race for the same port.
func waitListening(p *proc, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := listening(p.cmd.Process.Pid, addr)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("process exited before listening on %s: %v", addr, p.err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process not listening on %s after %v", addr, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// listening reports whether process pid holds a TCP socket listening on addr, from
// /proc/net/tcp (listening sockets and their inodes) and /proc/PID/fd (the process's
// sockets by inode).
func listening(pid int, addr string) (bool, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("listen address %q: %w", addr, err)
	}
	ip := net.ParseIP(host).To4()
	portN, err := strconv.Atoi(port)
	if ip == nil || err != nil {
		return false, fmt.Errorf("listen address %q: not IPv4 HOST:PORT", addr)
	}
	// /proc/net/tcp prints the address as the hex of the network-order 32-bit word read
	// in host byte order (reversed on little-endian machines), then the port in hex.
	localLE := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], portN)
	localBE := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[0], ip[1], ip[2], ip[3], portN)
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false, fmt.Errorf("read socket table: %w", err)
	}
	inodes := map[string]bool{}
	for _, line := range strings.Split(string(table), "\n")[1:] {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
		f := strings.Fields(line)
		if len(f) >= 10 && (f[1] == localLE || f[1] == localBE) && f[3] == "0A" { // 0A: LISTEN
			inodes["socket:["+f[9]+"]"] = true
		}
	}
	if len(inodes) == 0 {
		return false, nil
	}
	for target := range openFiles(pid) {
		if inodes[target] {
			return true, nil
		}
	}
	return false, nil
}

// freeLoopbackAddr returns 127.0.0.1:PORT with a port that was free a moment ago.
//
// Postfix and smtp-sink bind their own sockets (they cannot take over one of ours), so
// there is a window between this check and their bind. The port is therefore drawn at
// random below Linux's ephemeral range (32768-60999 by default), where the kernel never
// hands out ports for outgoing connections or ":0" listeners: only another test of this
// rig drawing the same number could take it, and callers retry on a bind failure.
func freeLoopbackAddr() (string, error) {
	const low, high = 20000, 32768
	var lastErr error
	for range 50 {
		addr := "127.0.0.1:" + strconv.Itoa(low+rand.IntN(high-low))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			lastErr = err
			continue
		}
		if err := ln.Close(); err != nil {
			return "", fmt.Errorf("release %s: %w", addr, err)
		}
		return addr, nil
	}
	return "", fmt.Errorf("find a free loopback port: %w", lastErr)
}

// portTaken reports whether someone else listens on addr now.
func portTaken(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return true
	}
	ln.Close()
	return false
}
