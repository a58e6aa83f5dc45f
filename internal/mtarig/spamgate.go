package mtarig

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Spamgate is `spamgate serve` as a separate process. It can be killed and
// started again (a new incarnation, on the same address when Config.Listen
// names a fixed port, so that Postfix's smtpd_milters stays right).
type Spamgate struct {
	Addr       string // 127.0.0.1:PORT of the milter (with port 0, known once started), or its socket's path
	Milter     string // "inet:" + Addr or "unix:" + Addr, for smtpd_milters
	ConfigFile string

	dir, bin string
	dynamic  bool          // the port is read from the log at each start
	unix     bool          // Addr is a unix socket's path
	logFiles []string      // one per incarnation
	cmd      *exec.Cmd     // nil while killed
	done     chan struct{} // closed once cmd has exited
	starts   int           // incarnations started
	deadCPU  time.Duration // CPU time of the stopped incarnations
}

var errNotStarted = errors.New("no start line logged yet")

var startedAddr = regexp.MustCompile(`msg="spamgate started".* addr=(127\.0\.0\.1:\d+)`)

// NewSpamgate writes cfg to a temporary directory and returns the process,
// not yet started (a harness may prepare the configured stores first, with
// bin's admin commands on ConfigFile). At the end of the test the running
// incarnation gets SIGTERM, then its group SIGKILL after 5 s; if the test
// failed, the tail of the log is logged.
func NewSpamgate(tb testing.TB, bin string, cfg Config) *Spamgate {
	tb.Helper()
	dir := tb.TempDir()
	p := &Spamgate{dir: dir, bin: bin, ConfigFile: filepath.Join(dir, "spamgate.toml")}
	if path, ok := strings.CutPrefix(cfg.Listen, "unix:"); ok {
		p.Addr, p.Milter, p.unix = path, cfg.Listen, true
	} else if host, port, err := net.SplitHostPort(cfg.Listen); err != nil || host != "127.0.0.1" {
		tb.Fatalf("spamgate: listen on 127.0.0.1 only, not %q", cfg.Listen)
	} else if port == "0" {
		p.dynamic = true
	} else {
		p.Addr, p.Milter = cfg.Listen, "inet:"+cfg.Listen
	}
	if err := os.WriteFile(p.ConfigFile, []byte(cfg.TOML()), 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if p.cmd != nil {
			Terminate(p.cmd, p.done)
			p.cmd = nil
		}
		if tb.Failed() {
			tb.Logf("spamgate log (tail):\n%s", Tail(p.Log(), 40))
		}
	})
	return p
}

// Start runs a new incarnation and waits (15 s at most) until it has logged
// its start and accepts connections.
func (p *Spamgate) Start(tb testing.TB) {
	tb.Helper()
	if p.cmd != nil {
		tb.Fatal("spamgate: Start while running")
	}
	want := p.starts + 1
	logFile := filepath.Join(p.dir, fmt.Sprintf("spamgate.%d.log", want))
	logf, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	defer logf.Close() // the child has its own copy
	p.logFiles = append(p.logFiles, logFile)
	cmd := exec.Command(p.bin, "serve", "-config", p.ConfigFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	done, err := StartGroup(cmd)
	if err != nil {
		tb.Fatalf("start spamgate: %v", err)
	}
	p.cmd, p.done, p.starts = cmd, done, want
	if p.dynamic {
		p.Addr, p.Milter = "", ""
	}
	err = WaitFor(15*time.Second, 5*time.Millisecond, done, func() error {
		b, _ := os.ReadFile(logFile)
		if p.dynamic {
			m := startedAddr.FindSubmatch(b)
			if m == nil {
				return errNotStarted
			}
			p.Addr, p.Milter = string(m[1]), "inet:"+string(m[1])
		} else if !bytes.Contains(b, []byte(`msg="spamgate started"`)) {
			return errNotStarted
		}
		if p.unix {
			return dialUnix(p.Addr)
		}
		return Dial(p.Addr)
	})
	if err != nil {
		tb.Fatalf("spamgate incarnation %d: %v\n%s", want, err, Tail(p.Log(), 40))
	}
}

// WaitHealthy waits (15 s at most) until both DNSBL zones passed their health
// check, so that the first messages see every check.
func (p *Spamgate) WaitHealthy(tb testing.TB) {
	tb.Helper()
	err := WaitFor(15*time.Second, 10*time.Millisecond, p.done, func() error {
		log := p.Log()
		if strings.Contains(log, `msg="dnsbl zone healthy" zone=bl.test`) &&
			strings.Contains(log, `msg="dnsbl zone healthy" zone=light.test`) {
			return nil
		}
		return errors.New("DNSBL zones not healthy")
	})
	if err != nil {
		tb.Fatalf("spamgate: %v\n%s", err, Tail(p.Log(), 40))
	}
}

// Kill SIGKILLs the running incarnation's group, as a crash or the OOM
// killer would, and waits until it is gone.
func (p *Spamgate) Kill(tb testing.TB) {
	if p.cmd == nil {
		return
	}
	p.deadCPU, _ = p.CPU()
	if err := KillGroup(p.cmd, p.done); err != nil {
		tb.Errorf("spamgate: %v", err)
	}
	p.cmd = nil
}

// Log is what every incarnation logged, in order.
func (p *Spamgate) Log() string {
	var all []byte
	for _, f := range p.logFiles {
		b, _ := os.ReadFile(f)
		all = append(all, b...)
	}
	return string(all)
}

// MessagesLogged counts the per-message summary lines: messages spamgate saw.
func (p *Spamgate) MessagesLogged() int {
	return strings.Count(p.Log(), `msg=message `)
}

// CPU is the user plus system time of every incarnation so far. On an error
// reading the running one's, it returns the stopped incarnations' time.
func (p *Spamgate) CPU() (time.Duration, error) {
	if p.cmd == nil {
		return p.deadCPU, nil
	}
	d, err := ProcCPU(p.cmd.Process.Pid, false)
	return p.deadCPU + d, err
}

// ResetPeakRSS starts a new peak of the running incarnation's resident set.
func (p *Spamgate) ResetPeakRSS() error { return ResetPeakRSS(p.cmd.Process.Pid) }

// PeakRSS is the running incarnation's VmHWM in bytes: its peak resident set
// since start or the last reset.
func (p *Spamgate) PeakRSS() (int64, error) {
	return ProcKB(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid), "VmHWM:")
}

// RSS is the running incarnation's VmRSS in bytes: its resident set now.
func (p *Spamgate) RSS() (int64, error) {
	return ProcKB(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid), "VmRSS:")
}

// Starts is the number of incarnations started so far.
func (p *Spamgate) Starts() int { return p.starts }

// dialUnix connects to the unix socket at path and hangs up.
func dialUnix(path string) error {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}
