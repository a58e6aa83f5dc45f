package postfix

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"spamgate/dnsx/dnstest"
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
// sender domain exists (MX), 127.0.0.1 is in neither DNS blocklist, and
// DMARC finds no record for the From domain (smtp-source writes
// "From: <sender>"). The message is unsigned: DKIM verification runs, over
// the streamed body, and finds no signature.
const (
	sender     = "bench@loop.test"
	recipient  = "alice@example.net"
	heloName   = "client.loop.test"
	messageLen = 6000 // smtp-source -l: body bytes; the message is ~6.2 KB
)

// spamgateConfig has every check of this release on (the defaults, written out
// so that a changed default does not silently change the benchmark). Logging
// is at info, as in production: one line per message, to a file.
const spamgateConfig = `
[milter]
listen = "inet:127.0.0.1:0"
authserv_id = "mx.test"
internal_networks = []
[log]
level = "info"
[dns]
nameservers = ["%s"]
cache_size = %d
[dnsbl]
enabled = true
threshold = 2
[[dnsbl.zone]]
name = "bl.test"
weight = 2
[[dnsbl.zone]]
name = "light.test"
weight = 1
[sender_domain]
enabled = true
[spf]
enabled = true
[dkim]
enabled = true
[dmarc]
enabled = true
[iprev]
enabled = true
[score]
enabled = true
# Greylisting for every client, in a real redis-server: each RCPT costs one
# store round trip. smtp-source sends every message with one client, sender
# and recipient; that triplet is released before the runs (with the admin
# command), so every check is a "pass" and the auto-whitelist stays off.
[greylist]
mode = "always"
store = "redis"
awl_count = 0
[greylist.redis]
addresses = ["%s"]
`

// postfixTuning is main.cf for both Postfix instances (with and without the
// milter), on top of postfixtest's defaults (which already set in_flow_delay = 0
// and turn off DNS and rDNS): nothing may throttle the load on purpose.
func postfixTuning() map[string]string {
	return map[string]string{
		"default_process_limit":                 "200", // smtpd, cleanup, smtp: room for 50 sessions and more
		"smtpd_client_connection_count_limit":   "0",
		"smtpd_client_connection_rate_limit":    "0",
		"smtpd_client_message_rate_limit":       "0",
		"smtpd_client_recipient_rate_limit":     "0",
		"in_flow_delay":                         "0",
		"initial_destination_concurrency":       "20",
		"default_destination_concurrency_limit": "50",
		"smtp_destination_concurrency_limit":    "50",
		"default_destination_rate_delay":        "0",
		"smtp_connection_cache_on_demand":       "yes",
		"smtpd_timeout":                         "60s",
		"message_size_limit":                    "104857600", // the 50 MB memory probe
	}
}

// milterSettings are what README.md recommends, as in the e2e tests.
func milterSettings() map[string]string {
	return map[string]string{
		"milter_default_action":  "tempfail", // a broken milter must show as lost mail, not pass
		"milter_protocol":        "6",
		"milter_command_timeout": "30s",
		"milter_content_timeout": "60s",
	}
}

// startPostfix runs a tuned Postfix relaying to sink, with milter ("" for none).
func startPostfix(tb testing.TB, sink *sink, milter string) *postfixtest.Postfix {
	tb.Helper()
	cf := postfixTuning()
	if milter != "" {
		for k, v := range milterSettings() {
			cf[k] = v
		}
	}
	return postfixtest.Start(tb, postfixtest.Options{Milter: milter, Relay: sink.Addr, MainCF: cf})
}

// startDNS serves testdata/dns/integration.zone on loopback, answering after delay.
func startDNS(tb testing.TB, delay time.Duration) *dnstest.Server {
	tb.Helper()
	z, err := dnstest.LoadZoneFile("../../testdata/dns/integration.zone", "test.")
	if err != nil {
		tb.Fatal(err)
	}
	s := dnstest.Start(tb, z)
	s.SetDelay(delay)
	return s
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
		if err := waitDial(addr, s.done, 5*time.Second); err != nil {
			stopGroup(s.cmd, s.done)
			lastErr = fmt.Errorf("%v: %s", err, stderr.String())
			continue
		}
		tb.Cleanup(func() { stopGroup(s.cmd, s.done) })
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

// buildSpamgate builds cmd/spamgate into a temporary directory. It builds with
// -race when this test binary has the race detector, so that under
// `go test -race ./...` the compiled packages come from the build cache.
// SPAMGATE_BENCH_BIN names a spamgate binary to use instead (another version,
// or a build from a clean checkout while the tree is being edited).
func buildSpamgate(tb testing.TB) string {
	tb.Helper()
	if bin := os.Getenv("SPAMGATE_BENCH_BIN"); bin != "" {
		return bin
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(tb.TempDir(), "spamgate")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command(goBin, append(args, "spamgate/cmd/spamgate")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build spamgate: %v\n%s", err, out)
	}
	return bin
}

// spamgate is a running `spamgate serve`.
type spamgate struct {
	Addr    string // 127.0.0.1:PORT of the milter
	Milter  string // "inet:" + Addr, for smtpd_milters
	LogFile string

	cmd  *exec.Cmd
	done chan struct{}
}

var startedAddr = regexp.MustCompile(`msg="spamgate started".* addr=(127\.0\.0\.1:\d+)`)

// startSpamgate runs bin with every check on against the DNS server at dnsAddr;
// cacheSize is [dns] cache_size (0: default, negative: no cache). It returns
// once the milter listens and both DNSBL zones passed their health check.
func startSpamgate(tb testing.TB, bin, dnsAddr string, cacheSize int) *spamgate {
	tb.Helper()
	dir := tb.TempDir()
	cfgFile := filepath.Join(dir, "spamgate.toml")
	rs := redistest.Start(tb)
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, spamgateConfig, dnsAddr, cacheSize, rs.Addr()), 0o644); err != nil {
		tb.Fatal(err)
	}
	// SPF passes for loop.test, so the triplet's client part is that domain.
	release := exec.Command(bin, "greylist", "release", "-config", cfgFile, "-spf-domain", "loop.test",
		"-from", sender, "-to", recipient)
	if out, err := release.CombinedOutput(); err != nil {
		tb.Fatalf("spamgate greylist release: %v\n%s", err, out)
	}
	p := &spamgate{LogFile: filepath.Join(dir, "spamgate.log"), done: make(chan struct{})}
	logf, err := os.Create(p.LogFile)
	if err != nil {
		tb.Fatal(err)
	}
	defer logf.Close()
	p.cmd = exec.Command(bin, "serve", "-config", cfgFile)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start spamgate: %v", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
		stopGroup(p.cmd, p.done)
		if tb.Failed() {
			tb.Logf("spamgate log (tail):\n%s", tail(p.log(), 40))
		}
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		log := p.log()
		if m := startedAddr.FindStringSubmatch(log); m != nil && p.Addr == "" {
			p.Addr, p.Milter = m[1], "inet:"+m[1]
		}
		if p.Addr != "" && strings.Contains(log, `msg="dnsbl zone healthy" zone=bl.test`) &&
			strings.Contains(log, `msg="dnsbl zone healthy" zone=light.test`) {
			return p
		}
		select {
		case <-p.done:
			tb.Fatalf("spamgate exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("spamgate not ready (listening, DNSBL zones healthy) after 15s:\n%s", log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *spamgate) log() string {
	b, _ := os.ReadFile(p.LogFile)
	return string(b)
}

// MessagesLogged counts the per-message summary lines: messages spamgate saw.
func (p *spamgate) MessagesLogged() int {
	return strings.Count(p.log(), `msg=message `)
}

// CPU is the process's user plus system time so far, from /proc/PID/stat.
func (p *spamgate) CPU() (time.Duration, error) { return procCPU(p.cmd.Process.Pid) }

// ResetPeakRSS starts a new peak: writing 5 to clear_refs resets VmHWM.
func (p *spamgate) ResetPeakRSS() error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0)
}

// PeakRSS is VmHWM in bytes: the peak resident set since start or the last reset.
func (p *spamgate) PeakRSS() (int64, error) {
	return procKB(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid), "VmHWM:")
}

// RSS is VmRSS in bytes: the resident set now.
func (p *spamgate) RSS() (int64, error) {
	return procKB(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid), "VmRSS:")
}

// ---- smtp-source ----

// runSource sends n messages in conc parallel sessions, one SMTP session per
// message (no -d), as an MX sees them. It returns when smtp-source exits.
func runSource(ctx context.Context, smtpAddr string, conc, n, bodyLen int) error {
	cmd := exec.CommandContext(ctx, sourceBin,
		"-s", strconv.Itoa(conc), "-m", strconv.Itoa(n), "-l", strconv.Itoa(bodyLen),
		"-M", heloName, "-f", sender, "-t", recipient, smtpAddr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("smtp-source: %v\n%s", err, tail(out.String(), 20))
	}
	if out.Len() > 0 { // warnings: refused or failed transactions
		return fmt.Errorf("smtp-source reported:\n%s", tail(out.String(), 20))
	}
	return nil
}

// ---- one measured run ----

// target is one Postfix set-up: with its milter (nil for Postfix alone).
type target struct {
	key     string // sub-benchmark name
	name    string // in the tables
	postfix *postfixtest.Postfix
	sg      milterProcess   // spamgate or the peer (rspamd)
	dns     *dnstest.Server // counted for queries per message; may be nil
}

// milterProcess is what measure reads of a milter's process(es).
type milterProcess interface {
	CPU() (time.Duration, error) // user+system time so far
	ResetPeakRSS() error
	PeakRSS() (int64, error) // peak resident set since the reset
}

type result struct {
	scenario  string
	conc, n   int
	accepted  time.Duration // smtp-source done: every message accepted by smtpd
	delivered time.Duration // every message received by smtp-sink
	cpu       time.Duration // the milter's user+system time; 0 without a milter
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
	if err := runSource(context.Background(), t.postfix.SMTPAddr, conc, n, messageLen); err != nil {
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
	start := time.Now()
	if err := runSource(context.Background(), t.postfix.SMTPAddr, conc, n, messageLen); err != nil {
		return r, err
	}
	r.accepted = time.Since(start)
	if err := s.waitCount(base+int64(n), deliveryTimeout(n)); err != nil {
		return r, err
	}
	r.delivered = time.Since(start)
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

// ---- process helpers ----

// procStatFields are the fields of /proc/PID/stat after "pid (comm)": state
// is [0], ppid [1], pgrp [2], utime [11], stime [12].
func procStatFields(pid int) ([]string, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil, fmt.Errorf("unexpected /proc stat: %q", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return nil, fmt.Errorf("unexpected /proc stat: %q", stat)
	}
	return f, nil
}

// procCPU is a process's user plus system time so far.
func procCPU(pid int) (time.Duration, error) {
	f, err := procStatFields(pid)
	if err != nil {
		return 0, err
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const clockTicks = 100 // USER_HZ: 100 on every Linux architecture Go supports
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// procKB reads a "Field:   N kB" line of a /proc file (status, smaps_rollup)
// in bytes.
func procKB(path, field string) (int64, error) {
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

// waitDial waits until something accepts connections on addr.
func waitDial(addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before listening on %s", addr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listening on %s after %v: %v", addr, timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stopGroup kills the process group that cmd leads (started with Setpgid) and
// waits a little for the leader to be reaped.
func stopGroup(cmd *exec.Cmd, done <-chan struct{}) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
