package soak

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"spamgate/dnsx/dnstest"
	"spamgate/internal/postfixtest"
	"spamgate/internal/proctest"
	"spamgate/internal/redistest"
)

// ---- spamgate as a process that can be killed and restarted ----

// spamgateConfig has every check on, as bench/postfix's rig does, with three
// differences for the soak: no DNS cache (every message asks the DNS server
// about ten questions, so that a DNS fault reaches the traffic at once rather
// than when a cached answer expires), a short DNS timeout (so that a slow DNS costs a message about a second, not four), and
// a greylisting delay of one second (every triplet is greylisted once per
// redis-server incarnation, and the client's retry passes it).
const spamgateConfig = `
[milter]
listen = "inet:%s"
authserv_id = "mx.test"
internal_networks = []
check_timeout = "5s"
[log]
level = "info"
[dns]
nameservers = ["%s"]
timeout = "%s"
cache_size = -1
[dnsbl]
enabled = true
threshold = 2
health_interval = "1m"
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
[greylist]
mode = "always"
store = "redis"
delay = "1s"
awl_count = 0
on_store_error = "accept"
timeout = "200ms"
[greylist.redis]
addresses = ["%s"]
`

// dnsTimeout is spamgate's [dns] timeout; each query is tried twice.
const dnsTimeout = 300 * time.Millisecond

// buildSpamgate builds cmd/spamgate (without the race detector: this is a
// load test) into a temporary directory. SPAMGATE_SOAK_BIN names a binary to
// use instead.
func buildSpamgate(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("SPAMGATE_SOAK_BIN"); bin != "" {
		return bin
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "spamgate")
	if out, err := exec.Command(goBin, "build", "-o", bin, "spamgate/cmd/spamgate").CombinedOutput(); err != nil {
		t.Fatalf("go build spamgate: %v\n%s", err, out)
	}
	return bin
}

// spamgate is `spamgate serve` on a fixed loopback port, so that a restarted
// process takes over where the killed one was and Postfix's smtpd_milters
// stays right.
type spamgate struct {
	Addr string // 127.0.0.1:PORT

	dir, bin, cfgFile string
	logFiles          []string          // one per incarnation
	proc              *proctest.Process // nil while killed
	pid               int               // of the running incarnation
	starts            int               // incarnations started
	deadCPU           time.Duration     // CPU time of the killed incarnations
}

func startSpamgate(t *testing.T, bin, dnsAddr, redisAddr string) *spamgate {
	t.Helper()
	dir := t.TempDir()
	p := &spamgate{
		Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(redistest.FreePort(t))),
		dir:     dir,
		bin:     bin,
		cfgFile: filepath.Join(dir, "spamgate.toml"),
	}
	cfg := fmt.Sprintf(spamgateConfig, p.Addr, dnsAddr, dnsTimeout, redisAddr)
	if err := os.WriteFile(p.cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill(t)
		if t.Failed() {
			t.Logf("spamgate log (tail):\n%s", tail(p.log(), 40))
		}
	})
	p.Start(t)
	// The first incarnation also waits for both DNSBL zones to pass their
	// health check, so that the first messages see every check.
	deadline := time.Now().Add(15 * time.Second)
	for {
		log := p.log()
		if strings.Contains(log, `msg="dnsbl zone healthy" zone=bl.test`) &&
			strings.Contains(log, `msg="dnsbl zone healthy" zone=light.test`) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("spamgate: DNSBL zones not healthy after 15s:\n%s", tail(log, 40))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Start runs a new incarnation and waits until it has logged its start and
// accepts connections.
func (p *spamgate) Start(t *testing.T) {
	t.Helper()
	if p.proc != nil {
		t.Fatal("spamgate: Start while running")
	}
	want := p.starts + 1
	logFile := filepath.Join(p.dir, fmt.Sprintf("spamgate.%d.log", want))
	proc, err := proctest.Start([]string{p.bin, "serve", "-config", p.cfgFile}, logFile)
	if err != nil {
		t.Fatalf("spamgate: %v", err)
	}
	p.logFiles = append(p.logFiles, logFile)
	err = proc.WaitReady(15*time.Second, 5*time.Millisecond, func() error {
		if b, _ := os.ReadFile(logFile); !bytes.Contains(b, []byte(`msg="spamgate started"`)) {
			return errors.New("no start line logged yet")
		}
		c, err := net.DialTimeout("tcp", p.Addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		t.Fatalf("spamgate incarnation %d: %v\n%s", want, err, tail(p.log(), 40))
	}
	p.proc, p.starts = proc, want
	p.pid = findPID(p.cfgFile)
}

// CPU is the user and system time of every incarnation so far.
func (p *spamgate) CPU() time.Duration {
	if p.proc == nil {
		return p.deadCPU
	}
	return p.deadCPU + procCPU(p.pid, false)
}

// Kill SIGKILLs the running incarnation, as a crash or the OOM killer would.
func (p *spamgate) Kill(t *testing.T) {
	if p.proc == nil {
		return
	}
	p.deadCPU = p.CPU()
	if err := p.proc.Kill(); err != nil {
		t.Errorf("spamgate: %v", err)
	}
	p.proc = nil
}

// log is what every incarnation logged, in order.
func (p *spamgate) log() string {
	var all []byte
	for _, f := range p.logFiles {
		b, _ := os.ReadFile(f)
		all = append(all, b...)
	}
	return string(all)
}

// ---- DNS and Postfix ----

// startDNS serves testdata/dns/integration.zone on loopback.
func startDNS(t *testing.T) *dnstest.Server {
	t.Helper()
	z, err := dnstest.LoadZoneFile("../testdata/dns/integration.zone", "test.")
	if err != nil {
		t.Fatal(err)
	}
	return dnstest.Start(t, z)
}

// startPostfix runs Postfix with bench/postfix's tuning (nothing throttles
// the load on purpose) and README.md's milter settings, relaying to relay.
func startPostfix(t *testing.T, milter, relay string) *postfixtest.Postfix {
	t.Helper()
	cf := map[string]string{
		"default_process_limit":                 "200",
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
		"max_use":                               "10000",
		// README.md's recommendation: a broken milter shows as 4xx, never as
		// mail that passed unchecked or was lost.
		"milter_default_action":  "tempfail",
		"milter_protocol":        "6",
		"milter_command_timeout": "30s",
		"milter_content_timeout": "60s",
	}
	return postfixtest.Start(t, postfixtest.Options{Milter: "inet:" + milter, Relay: relay, MainCF: cf})
}

// queueFiles counts the messages in the instance's queue (incoming, active,
// deferred, hold, maildrop): 0 once everything was delivered.
func queueFiles(pf *postfixtest.Postfix) (int, error) {
	n := 0
	for _, q := range []string{"incoming", "active", "deferred", "hold", "maildrop"} {
		err := filepath.WalkDir(filepath.Join(pf.Dir, "queue", q), func(_ string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				n++
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			return 0, err
		}
	}
	return n, nil
}

// ---- the counting sink ----

// sink is an SMTP server that Postfix relays to. It keeps no message: it
// records the soak id in each message's Subject and answers 250.
type sink struct {
	Addr string

	ln       net.Listener
	mu       sync.Mutex
	got      map[string]int // id → deliveries
	noID     int            // messages without a soak id
	total    atomic.Int64
	sessions atomic.Int64
	wg       sync.WaitGroup
}

var idPattern = regexp.MustCompile(`\b((?:soak|abort)-\d+)\b`)

func startSink(t *testing.T) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{Addr: ln.Addr().String(), ln: ln, got: make(map[string]int)}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *sink) accept() {
	defer s.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.sessions.Add(1)
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer c.Close()
			s.serve(c)
		}()
	}
}

// serve speaks just enough ESMTP for Postfix's smtp client, pipelining
// included: replies are flushed whenever no more input is buffered.
func (s *sink) serve(c net.Conn) {
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriter(c)
	reply := func(lines ...string) bool {
		for _, l := range lines {
			w.WriteString(l)
			w.WriteString("\r\n")
		}
		if r.Buffered() > 0 {
			return true
		}
		return w.Flush() == nil
	}
	if !reply("220 sink.soak.test ESMTP") {
		return
	}
	for {
		_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(string(bytes.TrimSpace(line)))
		if i := strings.IndexAny(verb, " :"); i >= 0 {
			verb = verb[:i]
		}
		var ok bool
		switch verb {
		case "EHLO":
			ok = reply("250-sink.soak.test", "250-PIPELINING", "250-8BITMIME", "250 SIZE 0")
		case "HELO", "MAIL", "RCPT", "RSET", "NOOP":
			ok = reply("250 2.0.0 Ok")
		case "DATA":
			if !reply("354 End data with <CR><LF>.<CR><LF>") {
				return
			}
			if w.Flush() != nil { // the client waits for 354 before it sends the message
				return
			}
			id, err := readData(r)
			if err != nil {
				return
			}
			s.record(id)
			ok = reply("250 2.0.0 Ok: queued")
		case "QUIT":
			reply("221 2.0.0 Bye")
			_ = w.Flush()
			return
		default:
			ok = reply("502 5.5.2 Command not recognized")
		}
		if !ok {
			return
		}
	}
}

// readData reads a message up to the lone dot and returns the soak id of
// its Subject ("" when there is none).
func readData(r *bufio.Reader) (string, error) {
	var id string
	header := true
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull { // a long line: the rest follows
			header = header && len(bytes.TrimSpace(line)) > 0
			for err == bufio.ErrBufferFull {
				_, err = r.ReadSlice('\n')
			}
			continue
		}
		if err != nil {
			return "", err
		}
		if bytes.Equal(line, []byte(".\r\n")) || bytes.Equal(line, []byte(".\n")) {
			return id, nil
		}
		if !header {
			continue
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			header = false
			continue
		}
		if id == "" && len(line) > 8 && strings.EqualFold(string(line[:8]), "subject:") {
			if m := idPattern.FindSubmatch(line); m != nil {
				id = string(m[1])
			}
		}
	}
}

func (s *sink) record(id string) {
	s.total.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		s.noID++
		return
	}
	s.got[id]++
}

// Deliveries returns how many times id arrived.
func (s *sink) Deliveries(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[id]
}

// Snapshot returns a copy of the counts and the messages without an id.
func (s *sink) Snapshot() (map[string]int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.got))
	for k, v := range s.got {
		m[k] = v
	}
	return m, s.noID
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// ---- CPU accounting, from /proc ----

// clockTicks is USER_HZ: 100 on every Linux architecture Go supports.
const clockTicks = 100

// procStat returns the fields of /proc/PID/stat after the command name
// (field 3, the state, is f[0]).
func procStat(pid int) ([]string, error) {
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

// procCPU is the user and system time of pid, plus that of its reaped
// children when children is set; 0 when the process is gone.
func procCPU(pid int, children bool) time.Duration {
	f, err := procStat(pid)
	if err != nil {
		return 0
	}
	fields := f[11:13] // utime, stime
	if children {
		fields = f[11:15] // and cutime, cstime
	}
	var ticks int64
	for _, s := range fields {
		n, _ := strconv.ParseInt(s, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// findPID returns the process whose command line contains s, or 0.
func findPID(s string) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil || !bytes.Contains(b, []byte(s)) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err == nil && pid != os.Getpid() {
			return pid
		}
	}
	return 0
}

// postfixCPU is the CPU time of the instance's master and every Postfix
// daemon it ran: the reaped ones are in master's cutime and cstime, the
// live ones are read one by one.
func postfixCPU(pf *postfixtest.Postfix) time.Duration {
	b, err := os.ReadFile(filepath.Join(pf.Dir, "queue", "pid", "master.pid"))
	if err != nil {
		return 0
	}
	master, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	total := procCPU(master, true)
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err != nil {
			continue
		}
		if f, err := procStat(pid); err == nil && f[1] == strconv.Itoa(master) {
			total += procCPU(pid, false)
		}
	}
	return total
}

// selfCPU is this test process's CPU time: the client, the sink, the DNS
// server.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
