package mtarig

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"spamgate/internal/postfixtest"
)

// StartGroup starts cmd as the leader of its own process group (so that
// KillGroup also reaches what it forks) that dies with the test binary,
// and returns a channel closed once cmd has exited and was waited for.
func StartGroup(cmd *exec.Cmd) (chan struct{}, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return done, nil
}

// Terminate stops a group started by StartGroup gracefully: SIGTERM to
// the leader, then, after it exited or 5 s, SIGKILL to the group.
func Terminate(cmd *exec.Cmd, done <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	_ = KillGroup(cmd, done)
}

// KillGroup SIGKILLs the process group that cmd leads (a stopped one too)
// and waits up to 5 s for the leader to exit (done closed).
func KillGroup(cmd *exec.Cmd, done <-chan struct{}) error {
	pid := cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGCONT)
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("pid %d did not exit after SIGKILL", pid)
	}
}

// WaitFor calls ready every poll until it returns nil. It fails when exited
// is closed first (the process died), or after timeout.
func WaitFor(timeout, poll time.Duration, exited <-chan struct{}, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for err := ready(); err != nil; err = ready() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %v", timeout, err)
		}
		select {
		case <-exited:
			return errors.New("exited at start")
		case <-time.After(poll):
		}
	}
	return nil
}

// WaitDial waits until something accepts connections on addr.
func WaitDial(addr string, exited <-chan struct{}, timeout time.Duration) error {
	if err := WaitFor(timeout, 5*time.Millisecond, exited, func() error { return Dial(addr) }); err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	return nil
}

// Dial connects to addr and hangs up: nil when something listens there.
func Dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// ProcStat returns the fields of /proc/PID/stat after "pid (comm)": state
// is [0], ppid [1], pgrp [2], utime [11], stime [12], cutime [13], cstime [14].
func ProcStat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return nil, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, b)
	}
	return f, nil
}

// ProcCPU is the user plus system time of pid so far, plus that of its
// reaped children when children is set; 0 on an error (the process is gone).
func ProcCPU(pid int, children bool) (time.Duration, error) {
	f, err := ProcStat(pid)
	if err != nil {
		return 0, err
	}
	fields := f[11:13] // utime, stime
	if children {
		fields = f[11:15] // and cutime, cstime
	}
	var ticks int64
	for _, s := range fields {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	const clockTicks = 100 // USER_HZ: 100 on every Linux architecture Go supports
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// ProcKB reads a "Field:   N kB" line of a /proc file (status, smaps_rollup)
// in bytes.
func ProcKB(path, field string) (int64, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(text), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in %s", field, path)
}

// ResetPeakRSS starts a new peak of pid's resident set: writing 5 to
// clear_refs resets VmHWM.
func ResetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// Tail is the last lines of s.
func Tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// PostfixCPU is the CPU time of the instance's master and every Postfix
// daemon it ran: the reaped ones are in master's cutime and cstime, the
// live ones are read one by one.
func PostfixCPU(pf *postfixtest.Postfix) time.Duration {
	b, err := os.ReadFile(filepath.Join(pf.Dir, "queue", "pid", "master.pid"))
	if err != nil {
		return 0
	}
	master, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	total, _ := ProcCPU(master, true)
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err != nil {
			continue
		}
		if f, err := ProcStat(pid); err == nil && f[1] == strconv.Itoa(master) {
			d, _ := ProcCPU(pid, false)
			total += d
		}
	}
	return total
}
