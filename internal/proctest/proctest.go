// Package proctest runs the server processes of the test rigs (redis-server,
// slapd, spamd): started with the output in a log file, waited for until
// they answer, killed as a crash would, frozen and thawed for fault tests.
package proctest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Process is one running server.
type Process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has been waited for
}

// Start runs argv with stdout and stderr appended to logFile. The process
// gets its own process group, so that Kill also reaches children a server
// forks (spamd's share its listening socket and would go on answering),
// and dies with the test binary.
func Start(argv []string, logFile string) (*Process, error) {
	log, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	defer log.Close() // the child has its own copy
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &Process{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// WaitReady calls ready every poll until it returns nil. It fails when the
// process exits first, or after timeout (then the process is killed).
func (p *Process) WaitReady(timeout, poll time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited at start")
		case <-time.After(poll):
		}
		if time.Now().After(deadline) {
			_ = p.Kill()
			return fmt.Errorf("not ready within %v: %v", timeout, err)
		}
	}
}

// Kill stops the process group at once, as a crash would (a frozen one
// too), and waits until the process is gone.
func (p *Process) Kill() error {
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGCONT)
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-p.exited:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("pid %d did not exit after SIGKILL", pid)
	}
}

// Pause freezes the process: the kernel still accepts connections, but
// nothing is answered, as with a hung server. It returns once every thread
// has stopped: SIGSTOP takes effect asynchronously, and on a loaded
// machine a request sent right after kill(2) could still be answered.
func (p *Process) Pause() error {
	pid := p.cmd.Process.Pid
	if err := syscall.Kill(-pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("SIGSTOP: %w", err)
	}
	for deadline := time.Now().Add(5 * time.Second); !stopped(pid); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d did not stop within 5s of SIGSTOP", pid)
		}
	}
	return nil
}

// Resume undoes Pause.
func (p *Process) Resume() error {
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGCONT); err != nil {
		return fmt.Errorf("SIGCONT: %w", err)
	}
	return nil
}

// stopped reports whether every thread of pid is in state T (stopped).
func stopped(pid int) bool {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			return false
		}
		// "pid (comm) S ...": the state follows the last ')'.
		rest := b[bytes.LastIndexByte(b, ')')+1:]
		if len(rest) < 2 || (rest[1] != 'T' && rest[1] != 't') {
			return false
		}
	}
	return true
}
