package danetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"spamgate/internal/logbuf"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// UnboundPath is Debian's unbound (scripts/test-deps.sh installs it).
const UnboundPath = "/usr/sbin/unbound"

// Unbound is a validating resolver for the Auth's zones, each signed zone
// a trust anchor. Stop and Start let a test take it away and back.
type Unbound struct {
	Addr string // 127.0.0.1:PORT
	t    testing.TB
	conf string
	cmd  *exec.Cmd
	done chan struct{}
	out  *syncBuffer
}

// StartUnbound configures and starts unbound in front of a; it is stopped
// when the test ends.
func StartUnbound(t testing.TB, a *Auth) *Unbound {
	t.Helper()
	pc, ln := listenBoth(t) // a port free on both; unbound takes it over
	addr := pc.LocalAddr().String()
	pc.Close()
	ln.Close()
	return StartUnboundAt(t, a, addr)
}

// StartUnboundAt is StartUnbound on a given loopback "IP:PORT": port 53 of
// an address of its own for a program that reads /etc/resolv.conf, which
// has no port (see postfixtest.Options.ResolvConf).
func StartUnboundAt(t testing.TB, a *Auth, addr string) *Unbound {
	t.Helper()
	if _, err := os.Stat(UnboundPath); err != nil {
		t.Fatalf("danetest: %s missing (run scripts/test-deps.sh): %v", UnboundPath, err)
	}
	dir := t.TempDir()
	u := &Unbound{Addr: addr, t: t, conf: filepath.Join(dir, "unbound.conf")}
	host, port, _ := strings.Cut(u.Addr, ":")
	_, authPort, _ := strings.Cut(a.Addr, ":")
	var b strings.Builder
	fmt.Fprintf(&b, `server:
	interface: %s
	port: %s
	do-ip6: no
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	username: ""
	chroot: ""
	directory: %q
	pidfile: %q
	use-syslog: no
	logfile: ""
	verbosity: 1
	module-config: "validator iterator"
	qname-minimisation: no
	local-zone: "test." nodefault
	val-log-level: 2
	num-threads: 1
	msg-cache-size: 1m
	rrset-cache-size: 1m
	key-cache-size: 1m
	neg-cache-size: 1m
	infra-cache-numhosts: 100
	outgoing-range: 64
	num-queries-per-thread: 32
	incoming-num-tcp: 4
	outgoing-num-tcp: 4
`, host, port, dir, filepath.Join(dir, "unbound.pid"))
	for _, z := range a.zones {
		if z.Signed {
			fmt.Fprintf(&b, "\ttrust-anchor: %q\n", strings.ReplaceAll(z.Anchor(), "\t", " "))
		}
	}
	b.WriteString("remote-control:\n\tcontrol-enable: no\n")
	for _, z := range a.zones {
		fmt.Fprintf(&b, "stub-zone:\n\tname: %q\n\tstub-addr: 127.0.0.1@%s\n", z.Origin, authPort)
	}
	if err := os.WriteFile(u.conf, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	u.Start()
	t.Cleanup(u.Stop)
	return u
}

// Start runs unbound and waits until it answers (at most 10s).
func (u *Unbound) Start() {
	u.t.Helper()
	if u.cmd != nil {
		return
	}
	cmd := exec.Command(UnboundPath, "-d", "-c", u.conf)
	out := &syncBuffer{}
	u.out = out
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		u.t.Fatalf("danetest: start unbound: %v", err)
	}
	u.cmd, u.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(u.done) }()
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	q := new(dns.Msg)
	q.SetQuestion("localhost.", dns.TypeA) // one of unbound's default local zones: answered at once
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		select {
		case <-u.done:
			u.t.Fatalf("danetest: unbound exited: %s", out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, _, err := c.ExchangeContext(ctx, q, u.Addr)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	u.t.Fatalf("danetest: unbound does not answer on %s: %s", u.Addr, out.String())
}

// Stop ends unbound and waits for it.
func (u *Unbound) Stop() {
	if u.cmd == nil {
		return
	}
	_ = u.cmd.Process.Signal(os.Interrupt)
	select {
	case <-u.done:
	case <-time.After(5 * time.Second):
		_ = u.cmd.Process.Kill()
		<-u.done
	}
	u.cmd = nil
}

// Log is what unbound printed since its last start.
func (u *Unbound) Log() string {
	if u.out == nil {
		return ""
	}
	return u.out.String()
}

// syncBuffer is a strings.Builder safe for unbound's writes and a test's reads.
type syncBuffer = logbuf.Buffer
