package postfix

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"spamgate/dnsx/dnstest"
	"spamgate/internal/mtarig"
	"spamgate/internal/postfixtest"
	"spamgate/internal/redistest"
)

// Postfix's load-test programs, where Debian's postfix package installs them
// (postfixtest.Require checks that they are there).
const (
	sourceBin = "/usr/sbin/smtp-source"
	sinkBin   = "/usr/sbin/smtp-sink"
)

// What smtp-source sends. loop.test's SPF record authorizes 127.0.0.0/8
// (testdata/dns/integration.zone), so SPF passes for the loopback client, the
// sender domain exists (MX), and 127.0.0.1 is in neither DNS blocklist. The
// message is DKIM-signed by loop.test (message_test.go), whose DMARC record
// (added by the benchmark) says p=reject.
const (
	sender     = "bench@loop.test"
	recipient  = "alice@example.net"
	heloName   = "client.loop.test"
	messageLen = 6000 // body bytes; the signed message is about 6.7 KB
)

// baseZoneFile is the test DNS zone: SPF, MX, DNSBLs for loop.test. The
// benchmark adds the DKIM key and the DMARC record (benchMail.zoneFile).
const baseZoneFile = "../../testdata/dns/integration.zone"

// startPostfix runs a tuned Postfix relaying to sink, with milter ("" for none).
func startPostfix(tb testing.TB, sink *sink, milter string) *postfixtest.Postfix {
	tb.Helper()
	return mtarig.StartPostfix(tb, milter, sink.Addr, map[string]string{
		"message_size_limit": "104857600", // the 50 MB memory probe
	})
}

// ---- smtp-sink ----

// sink is Postfix's smtp-sink counting what it receives (-c) without saving it:
// postfixtest's Sink writes a file per message, too slow for 20,000 messages.
type sink struct {
	Addr  string
	count atomic.Int64
	cmd   *exec.Cmd
	done  chan struct{}
}

var mesgCount = regexp.MustCompile(`mesg=(\d+)`)

func startSink(tb testing.TB) *sink {
	tb.Helper()
	postfixtest.Require(tb)
	var lastErr error
	for range 5 {
		addr := "127.0.0.1:" + strconv.Itoa(20000+rand.IntN(12768)) // below the ephemeral range
		s := &sink{Addr: addr, done: make(chan struct{})}
		s.cmd = exec.Command(sinkBin, "-u", "root", "-c", "-h", "sink.bench.test",
			"-a", "-C", "-F", // no AUTH, XCLIENT, XFORWARD: Postfix must not use them
			addr, "1024")
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out, err := s.cmd.StdoutPipe()
		if err != nil {
			tb.Fatal(err)
		}
		var stderr bytes.Buffer
		s.cmd.Stderr = &stderr
		if err := s.cmd.Start(); err != nil {
			tb.Fatalf("start smtp-sink: %v", err)
		}
		go s.readCounter(out)
		if err := mtarig.WaitDial(addr, s.done, 5*time.Second); err != nil {
			_ = mtarig.KillGroup(s.cmd, s.done)
			lastErr = fmt.Errorf("%v: %s", err, stderr.String())
			continue
		}
		tb.Cleanup(func() { _ = mtarig.KillGroup(s.cmd, s.done) })
		return s
	}
	tb.Fatalf("start smtp-sink: %v", lastErr)
	return nil
}

// readCounter follows smtp-sink -c's status line ("sess=N quit=N mesg=N\r").
func (s *sink) readCounter(r io.Reader) {
	defer close(s.done)
	sc := bufio.NewScanner(r)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	for sc.Scan() {
		if m := mesgCount.FindSubmatch(sc.Bytes()); m != nil {
			if n, err := strconv.ParseInt(string(m[1]), 10, 64); err == nil {
				s.count.Store(n)
			}
		}
	}
	_ = s.cmd.Wait()
}

// Count is the number of messages received so far.
func (s *sink) Count() int64 { return s.count.Load() }

// waitCount waits until n messages have arrived in all.
func (s *sink) waitCount(n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for s.Count() < n {
		select {
		case <-s.done:
			return fmt.Errorf("smtp-sink exited after %d messages, want %d", s.Count(), n)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("smtp-sink received %d messages in %v, want %d", s.Count(), timeout, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// ---- spamgate as a process ----

// buildSpamgate builds cmd/spamgate, with -race when this test binary has
// the race detector. SPAMGATE_BENCH_BIN names a spamgate binary to use instead.
func buildSpamgate(tb testing.TB) string {
	return mtarig.BuildSpamgate(tb, "SPAMGATE_BENCH_BIN", raceEnabled)
}

// startSpamgate runs bin with every check on against the DNS server at dnsAddr
// and its own redis-server; cacheSize is [dns] cache_size (0: default,
// negative: no cache); listen, if given, is "unix:PATH" (default a free
// loopback port). It returns once the milter listens and both DNSBL zones
// passed their health check.
func startSpamgate(tb testing.TB, bin, dnsAddr string, cacheSize int, listen ...string) *benchSpamgate {
	tb.Helper()
	rs := redistest.Start(tb)
	addr := "127.0.0.1:0"
	if len(listen) > 0 {
		addr = listen[0]
	}
	history := filepath.Join(tb.TempDir(), "history")
	p := mtarig.NewSpamgate(tb, bin, mtarig.Config{
		Listen:     addr,
		Nameserver: dnsAddr,
		CacheSize:  cacheSize,
		Redis:      rs.Addr(),
		HistoryDir: history,
	})
	// smtp-source sends every message with one client, sender and recipient:
	// that triplet is released before the runs, so every greylisting check is
	// a "pass" and the auto-whitelist stays off. SPF passes for loop.test, so
	// the triplet's client part is that domain.
	release := exec.Command(bin, "greylist", "release", "-config", p.ConfigFile, "-spf-domain", "loop.test",
		"-from", sender, "-to", recipient)
	if out, err := release.CombinedOutput(); err != nil {
		tb.Fatalf("spamgate greylist release: %v\n%s", err, out)
	}
	p.Start(tb)
	p.WaitHealthy(tb)
	return &benchSpamgate{Spamgate: p, history: history}
}

// benchSpamgate is spamgate as the benchmark runs it, with its decision
// history on (as in a packaged install).
type benchSpamgate struct {
	*mtarig.Spamgate
	history string // [admin] history_dir
}

// historyText is the decision history's whole text: JSON lines, each behind
// its checksum (history/file.go).
func (p *benchSpamgate) historyText(tb testing.TB) string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(p.history, "*"))
	if err != nil {
		tb.Fatal(err)
	}
	var all strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		all.Write(b)
	}
	return all.String()
}

// ---- smtp-source ----

// runSource sends n messages in conc parallel sessions, one SMTP session per
// message (no -d), as an MX sees them: the message in msgFile, or without
// one smtp-source's own of bodyLen bytes. It returns when smtp-source exits.
func runSource(ctx context.Context, smtpAddr string, conc, n int, msgFile string, bodyLen int) error {
	content := []string{"-l", strconv.Itoa(bodyLen)}
	if msgFile != "" {
		content = []string{"-F", msgFile}
	}
	args := append([]string{"-s", strconv.Itoa(conc), "-m", strconv.Itoa(n)}, content...)
	cmd := exec.CommandContext(ctx, sourceBin, append(args, "-M", heloName, "-f", sender, "-t", recipient, smtpAddr)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("smtp-source: %v\n%s", err, mtarig.Tail(out.String(), 20))
	}
	if out.Len() > 0 { // warnings: refused or failed transactions
		return fmt.Errorf("smtp-source reported:\n%s", mtarig.Tail(out.String(), 20))
	}
	return nil
}

// ---- one measured run ----

// target is one Postfix set-up: with its milter (nil for Postfix alone).
type target struct {
	key       string // sub-benchmark name
	name      string // in the tables
	transport string // of the milter: "TCP" or "unix"; "" without one
	postfix   *postfixtest.Postfix
	sg        milterProcess   // spamgate or the peer (rspamd)
	dns       *dnstest.Server // counted for queries per message; may be nil
	mail      string          // the message smtp-source sends (benchMail.msgFile)
}

// milterProcess is what measure reads of a milter's process(es).
type milterProcess interface {
	CPU() (time.Duration, error) // user+system time so far
	ResetPeakRSS() error
	PeakRSS() (int64, error) // peak resident set since the reset
}

type result struct {
	scenario  string
	key       string // the target's
	transport string // the target's
	round     int    // of the alternating runs, from 1
	conc, n   int
	accepted  time.Duration // smtp-source done: every message accepted by smtpd
	delivered time.Duration // every message received by smtp-sink
	cpu       time.Duration // the milter's user+system time; 0 without a milter
	pfCPU     time.Duration // Postfix's (master and every daemon it ran)
	peakRSS   int64         // the milter's VmHWM during the run
	pss       int64         // its PSS at the end (rspamd: several processes); 0 if not read
	queries   int64         // DNS queries answered during the run
	milter    bool
}

func (r result) rate() float64 { return float64(r.n) / r.delivered.Seconds() }

// send pushes n messages through t at concurrency conc and waits until the sink
// has them all, without measuring: warm-up.
func send(t target, s *sink, conc, n int) error {
	base := s.Count()
	if err := runSource(context.Background(), t.postfix.SMTPAddr, conc, n, t.mail, messageLen); err != nil {
		return err
	}
	return s.waitCount(base+int64(n), deliveryTimeout(n))
}

func deliveryTimeout(n int) time.Duration { return time.Minute + time.Duration(n)*20*time.Millisecond }

// measure runs n messages at concurrency conc through t after a short warm-up
// (Postfix starts its smtpd, cleanup and smtp processes; DNS answers get cached).
func measure(t target, s *sink, conc, n int) (result, error) {
	if err := send(t, s, conc, max(2*conc, 20)); err != nil {
		return result{}, fmt.Errorf("warm-up: %w", err)
	}
	r := result{scenario: t.name, conc: conc, n: n, milter: t.sg != nil}
	var cpu0 time.Duration
	if t.sg != nil {
		if err := t.sg.ResetPeakRSS(); err != nil {
			return r, err
		}
		var err error
		if cpu0, err = t.sg.CPU(); err != nil {
			return r, err
		}
	}
	var q0 int64
	if t.dns != nil {
		q0 = t.dns.Queries()
	}
	base := s.Count()
	pf0 := mtarig.PostfixCPU(t.postfix)
	start := time.Now()
	if err := runSource(context.Background(), t.postfix.SMTPAddr, conc, n, t.mail, messageLen); err != nil {
		return r, err
	}
	r.accepted = time.Since(start)
	if err := s.waitCount(base+int64(n), deliveryTimeout(n)); err != nil {
		return r, err
	}
	r.delivered = time.Since(start)
	r.pfCPU = mtarig.PostfixCPU(t.postfix) - pf0
	if t.dns != nil {
		r.queries = t.dns.Queries() - q0
	}
	if t.sg != nil {
		cpu1, err := t.sg.CPU()
		if err != nil {
			return r, err
		}
		r.cpu = cpu1 - cpu0
		if r.peakRSS, err = t.sg.PeakRSS(); err != nil {
			return r, err
		}
		if p, ok := t.sg.(interface{ PSS() (int64, error) }); ok {
			if r.pss, err = p.PSS(); err != nil {
				return r, err
			}
		}
	}
	return r, nil
}
