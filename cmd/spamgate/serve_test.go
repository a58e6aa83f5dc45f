package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lines collects a process's stderr and lets a test wait for a line.
type lines struct {
	mu   sync.Mutex
	all  []string
	cond *sync.Cond
}

func collect(r io.Reader) *lines {
	l := &lines{}
	l.cond = sync.NewCond(&l.mu)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.mu.Lock()
			l.all = append(l.all, sc.Text())
			l.cond.Broadcast()
			l.mu.Unlock()
		}
		l.mu.Lock()
		l.all = append(l.all, "EOF")
		l.cond.Broadcast()
		l.mu.Unlock()
	}()
	return l
}

func (l *lines) wait(t *testing.T, substr string) {
	t.Helper()
	timer := time.AfterFunc(10*time.Second, func() { l.mu.Lock(); l.all = append(l.all, "TIMEOUT"); l.cond.Broadcast(); l.mu.Unlock() })
	defer timer.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; ; i++ {
		for ; i < len(l.all); i++ {
			if strings.Contains(l.all[i], substr) {
				return
			}
			if l.all[i] == "TIMEOUT" || l.all[i] == "EOF" {
				t.Fatalf("no log line with %q; got:\n%s", substr, strings.Join(l.all, "\n"))
			}
		}
		l.cond.Wait()
		i--
	}
}

// The real binary: SIGHUP with a broken file keeps running on the old
// configuration, SIGHUP with a good one reloads, SIGTERM stops it cleanly.
func TestServeSignals(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "spamgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "spamgate.toml")
	good := "[milter]\nlisten = \"unix:" + filepath.Join(dir, "milter.sock") + "\"\n[dns]\nnameservers = [\"127.0.0.1:1\"]\n"
	os.WriteFile(cfg, []byte(good), 0o600)

	cmd := exec.Command(bin, "serve", "-config", cfg)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	out := collect(stderr)
	out.wait(t, "spamgate started")

	os.WriteFile(cfg, []byte(good+"[spf]\nreject_fial = true\n"), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	out.wait(t, "reload failed")
	out.wait(t, "spf.reject_fial")

	os.WriteFile(cfg, []byte(good+"[spf]\nreject_fail = true\n"), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	out.wait(t, "configuration reloaded")

	cmd.Process.Signal(syscall.SIGTERM)
	out.wait(t, "spamgate stopped")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "milter.sock")); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}
