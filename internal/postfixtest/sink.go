package postfixtest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Sink is Postfix's smtp-sink listening on a loopback port, saving every message it
// receives to a file of its own. Point Options.Relay at Addr.
type Sink struct {
	Addr string // 127.0.0.1:PORT
	Dir  string // where the received messages are saved, one file each

	proc *proc
}

// StartSink runs smtp-sink for the test and stops it when the test ends.
func StartSink(t testing.TB) *Sink {
	t.Helper()
	Require(t)
	dir := t.TempDir() // smtp-sink runs as root (-u root), so a private directory will do
	msgs := filepath.Join(dir, "msgs")
	if err := os.Mkdir(msgs, 0o755); err != nil {
		t.Fatalf("postfixtest: %v", err)
	}
	logFile := filepath.Join(dir, "smtp-sink.log")
	s := &Sink{Dir: msgs}
	t.Cleanup(func() {
		if s.proc != nil {
			s.proc.stop(2 * time.Second)
		}
		if t.Failed() {
			if out, err := os.ReadFile(logFile); err == nil && len(out) > 0 {
				t.Logf("postfixtest: smtp-sink output:\n%s", out)
			}
		}
	})
	for attempt := 1; ; attempt++ {
		addr, err := freeLoopbackAddr()
		if err != nil {
			t.Fatalf("postfixtest: %v", err)
		}
		s.proc, err = startProc(logFile, sinkBin,
			"-u", "root", // required when run by the superuser; root can write anywhere
			"-h", "sink.postfixtest.test",
			"-a", "-C", "-F", // announce no AUTH, XCLIENT or XFORWARD: Postfix must not use them
			"-d", filepath.Join(msgs, "msg."), // one file per message: msg.<random hex>
			addr, "64")
		if err != nil {
			t.Fatalf("postfixtest: %v", err)
		}
		err = waitListening(s.proc, addr, startTimeout)
		if err == nil {
			s.Addr = addr
			return s
		}
		s.proc.stop(time.Second)
		s.proc = nil
		if attempt == 3 || !portTaken(addr) {
			out, _ := os.ReadFile(logFile)
			t.Fatalf("postfixtest: start smtp-sink on %s: %v\n%s", addr, err, out)
		}
	}
}

// Messages returns the messages received so far, oldest first. Messages still being
// received are left out. Call it from the test's goroutine: it fails the test on error.
func (s *Sink) Messages(t testing.TB) []Message {
	t.Helper()
	msgs, err := s.messages()
	if err != nil {
		t.Fatalf("postfixtest: %v", err)
	}
	return msgs
}

// WaitMessages waits until at least n messages have arrived and returns all of them; it
// fails the test when timeout passes first.
func (s *Sink) WaitMessages(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs, err := s.messages()
		if err != nil {
			t.Fatalf("postfixtest: %v", err)
		}
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("postfixtest: sink %s received %d messages in %v, want %d",
				s.Addr, len(msgs), timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// messages reads every complete message file.
func (s *Sink) messages() ([]Message, error) {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("list sink messages: %w", err)
	}
	// Listed first, checked second: a file that is closed now was complete when listed.
	open := openFiles(s.proc.cmd.Process.Pid)
	type file struct {
		path  string
		mtime time.Time
	}
	var files []file
	for _, e := range entries {
		path := filepath.Join(s.Dir, e.Name())
		if open[path] {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // an aborted transaction's file, removed meanwhile
		}
		files = append(files, file{path, info.ModTime()})
	}
	slices.SortFunc(files, func(a, b file) int {
		if c := a.mtime.Compare(b.mtime); c != 0 {
			return c
		}
		return strings.Compare(a.path, b.path)
	})
	msgs := make([]Message, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f.path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read sink message: %w", err)
		}
		m, err := parseDump(data)
		if err != nil {
			return nil, fmt.Errorf("parse sink message %s: %w", f.path, err)
		}
		m.File = f.path
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// openFiles returns the paths that process pid has open. smtp-sink writes a message file
// from MAIL FROM to the final "." and closes it before it answers the ".", so an open file
// is a message still in transfer, and a closed one will not change any more.
func openFiles(pid int) map[string]bool {
	fdDir := "/proc/" + strconv.Itoa(pid) + "/fd"
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		return nil // the sink has exited: nothing is open
	}
	open := make(map[string]bool, len(entries))
	for _, e := range entries {
		if target, err := os.Readlink(fdDir + "/" + e.Name()); err == nil {
			open[target] = true
		}
	}
	return open
}
