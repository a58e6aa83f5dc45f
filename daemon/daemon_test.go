package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"spamgate/config"
	"spamgate/dnsx/dnstest"
	"spamgate/internal/logbuf"
	"spamgate/internal/miltertest"
)

// rig is a spamgate daemon with a real DNS server on loopback.
type rig struct {
	d    *Daemon
	dns  *dnstest.Server
	zone *dnstest.Zone // served by dns; tests may add records
	addr string
	file string
	logs *logBuffer // the daemon's log, also written to the test's
}

const baseConfig = `
[milter]
listen = "inet:127.0.0.1:0"
authserv_id = "mx.test"
internal_networks = ["192.0.2.200/29"]
check_timeout = "3s"

[log]
level = "debug"

[dns]
nameservers = ["%s"]
timeout = "1s"

%s
[dnsbl]
threshold = 2
[[dnsbl.zone]]
name = "bl.test"
weight = 2
[[dnsbl.zone]]
name = "light.test"
weight = 1
codes = ["127.0.0.2"]
[[dnsbl.zone]]
name = "blocked.test"
weight = 5
%s`

func startRig(t *testing.T, extra string) *rig {
	t.Helper()
	return startRigWith(t, greylistNever, extra)
}

// greylistNever is the rig's [greylist] table: greylisting has its own
// tests (greylist_test.go); elsewhere it would defer the clients without
// reverse DNS that the tests use.
const greylistNever = "[greylist]\nmode = \"never\"\n"

// baseText is baseConfig for the DNS server at dnsAddr.
func baseText(dnsAddr, greylist, extra string) string {
	return fmt.Sprintf(baseConfig, dnsAddr, greylist, extra)
}

// startRigWith is startRig with greylist (a whole [greylist] table, its
// subtables included) in place of greylistNever.
func startRigWith(t *testing.T, greylist, extra string) *rig {
	t.Helper()
	return startRigOpts(t, rigOptions{greylist: greylist, extra: extra})
}

// rigOptions shape a rig beyond its base configuration.
type rigOptions struct {
	greylist string // the [greylist] table; "" is greylistNever
	extra    string // more TOML after the base text
	// tweak changes the loaded configuration ([milter] and [dns] are in
	// the base text, out of reach of extra).
	tweak func(*config.Config)
	// log receives the daemon's log at info level instead of the test log
	// at debug (rig.logs then stays empty).
	log io.Writer
}

func startRigOpts(t *testing.T, o rigOptions) *rig {
	t.Helper()
	if o.greylist == "" {
		o.greylist = greylistNever
	}
	z, err := dnstest.LoadZoneFile("../testdata/dns/integration.zone", "test.")
	if err != nil {
		t.Fatal(err)
	}
	z.ServFail("servfail.test.", dns.TypeANY)
	srv := dnstest.Start(t, z)
	file := filepath.Join(t.TempDir(), "spamgate.toml")
	writeConfig(t, file, baseText(srv.Addr, o.greylist, o.extra))
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if o.tweak != nil {
		o.tweak(cfg)
	}
	logs := &logBuffer{}
	var handler slog.Handler = slog.NewTextHandler(teeWriter{testWriter{t}, logs}, &slog.HandlerOptions{Level: slog.LevelDebug})
	if o.log != nil {
		handler = slog.NewTextHandler(o.log, &slog.HandlerOptions{Level: slog.LevelInfo})
	}
	d, err := Start(cfg, slog.New(handler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	waitHealth(t, d)
	return &rig{d: d, dns: srv, zone: z, addr: d.Addr().String(), file: file, logs: logs}
}

// logBuffer keeps a daemon's log for assertions on what it logged.
type logBuffer = logbuf.Buffer

// teeWriter writes to the test log and to the buffer.
type teeWriter struct {
	t   testWriter
	buf *logBuffer
}

func (w teeWriter) Write(p []byte) (int, error) {
	_, _ = w.buf.Write(p)
	return w.t.Write(p)
}

// waitHealth waits until the first DNSBL health check has judged every zone.
func waitHealth(t *testing.T, d *Daemon) {
	t.Helper()
	bl := d.Engine().DNSBL()
	if bl == nil {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, z := range d.Config().DNSBL.Zones {
		for {
			if _, known := bl.Healthy(z.Name); known {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("health of zone %s never became known", z.Name)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func writeConfig(t *testing.T, file, text string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

var _ io.Writer = testWriter{}

func (r *rig) run(t *testing.T, tx miltertest.Tx) *miltertest.Result {
	t.Helper()
	if tx.Helo == "" {
		tx.Helo = "helo.good.test"
	}
	if tx.Rcpts == nil {
		tx.Rcpts = []string{"alice@example.net", "bob@example.net"}
	}
	if tx.Headers == nil {
		tx.Headers = [][2]string{{"From", " <user@good.test>"}, {"Subject", " hello"}}
	}
	if tx.QueueID == "" {
		tx.QueueID = "4ABCDEF"
	}
	res, err := miltertest.Run(r.addr, tx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestEnvelopeDecisions(t *testing.T) {
	r := startRig(t, "")
	tests := []struct {
		name   string
		tx     miltertest.Tx
		refuse string // expected reply for every recipient, "" = accepted
		spf    string // expected spf= entry in Authentication-Results
	}{
		{"clean", miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test"}, "", "spf=pass smtp.mailfrom=user@good.test"},
		{"listed ipv4", miltertest.Tx{ClientIP: "192.0.2.99", From: "user@good.test"},
			"554 5.7.1 Service unavailable; client [192.0.2.99] blocked using bl.test", ""},
		{"listed ipv6", miltertest.Tx{ClientIP: "2001:db8::99", From: "user@aonly.test"},
			"554 5.7.1 Service unavailable; client [2001:db8::99] blocked using bl.test", ""},
		{"sender domain nxdomain", miltertest.Tx{ClientIP: "192.0.2.10", From: "user@nowhere.test"},
			"550 5.1.8 Sender address rejected: Domain not found", ""},
		{"sender domain without mx or address", miltertest.Tx{ClientIP: "192.0.2.10", From: "user@nomail.test"},
			"550 5.1.8 Sender address rejected: Domain not found", ""},
		{"null mx", miltertest.Tx{ClientIP: "192.0.2.10", From: "user@nullmx.test"},
			"550 5.7.27 Sender address rejected: domain does not accept mail", ""},
		{"implicit mx", miltertest.Tx{ClientIP: "192.0.2.10", From: "user@aonly.test"}, "", "spf=none smtp.mailfrom=user@aonly.test"},
		{"dns servfail tempfails", miltertest.Tx{ClientIP: "192.0.2.10", From: "user@servfail.test"},
			"451 4.4.3 Sender address rejected: temporary DNS failure, try again later", ""},
		{"null sender never refused by sender check", miltertest.Tx{ClientIP: "192.0.2.10", From: ""}, "", "spf=pass smtp.helo=helo.good.test"},
		{"spf fail only recorded by default", miltertest.Tx{ClientIP: "192.0.2.10", From: "user@spffail.test"}, "", "spf=fail smtp.mailfrom=user@spffail.test"},
		{"internal network skips checks", miltertest.Tx{ClientIP: "192.0.2.201", From: "user@nowhere.test"}, "", ""},
		{"authenticated client skips checks", miltertest.Tx{ClientIP: "192.0.2.99", AuthUser: "alice", From: "user@nowhere.test"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := r.run(t, tt.tx)
			for _, rcpt := range tt.tx.Rcpts {
				if got := res.Refused(rcpt); got != tt.refuse {
					t.Errorf("RCPT %s: got %q, want %q", rcpt, got, tt.refuse)
				}
			}
			if tt.refuse != "" {
				return
			}
			ar := res.Header("Authentication-Results")
			outbound := tt.spf == ""
			switch {
			case outbound && len(ar) != 0:
				t.Errorf("outbound mail got Authentication-Results %q", ar)
			case !outbound && len(ar) != 1:
				t.Fatalf("want one Authentication-Results, got %q", ar)
			case !outbound && !strings.Contains(ar[0], tt.spf):
				t.Errorf("Authentication-Results %q lacks %q", ar[0], tt.spf)
			case !outbound && !strings.HasPrefix(ar[0], " mx.test;"):
				t.Errorf("Authentication-Results %q does not start with our authserv-id", ar[0])
			}
		})
	}
}

// A zone that answers "blocked" (127.255.255.x) to everything fails its
// health check and never counts; the light zone's 127.0.0.3 is filtered out.
func TestDNSBLHealthAndFilters(t *testing.T) {
	r := startRig(t, "")
	bl := r.d.Engine().DNSBL()
	if healthy, known := bl.Healthy("blocked.test"); healthy || !known {
		t.Errorf("blocked.test: healthy=%v known=%v, want unhealthy", healthy, known)
	}
	if healthy, _ := bl.Healthy("bl.test"); !healthy {
		t.Errorf("bl.test should be healthy")
	}
	// 192.0.2.10 is "listed" only by blocked.test (weight 5): must pass.
	res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test"})
	if got := res.Refused("alice@example.net"); got != "" {
		t.Errorf("blocked zone counted: %q", got)
	}
}

func TestSPFRejectFail(t *testing.T) {
	r := startRig(t, "[spf]\nreject_fail = true\n")
	res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@spffail.test"})
	if got := res.Refused("alice@example.net"); !strings.HasPrefix(got, "550 5.7.23 SPF validation failed") {
		t.Errorf("got %q", got)
	}
}

// Authentication-Results fields that carry our authserv-id are forged: they
// are deleted (by 1-based index among fields of that name, last first);
// foreign ones stay.
func TestForgedAuthenticationResultsRemoved(t *testing.T) {
	r := startRig(t, "")
	res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Headers: [][2]string{
		{"Authentication-Results", " MX.test; spf=pass smtp.mailfrom=forged@good.test"},
		{"Authentication-Results", " other.example; spf=fail"},
		{"From", " <user@good.test>"},
		{"Authentication-Results", " (comment) mx.test; dkim=pass"},
	}})
	var deleted []uint32
	for _, m := range res.Mods {
		if m.Code == 'm' && m.HeaderName == "Authentication-Results" && m.HeaderValue == "" {
			deleted = append(deleted, m.HeaderIndex)
		}
	}
	if fmt.Sprint(deleted) != "[3 1]" {
		t.Errorf("deleted Authentication-Results indexes %v, want [3 1]", deleted)
	}
	if ar := res.Header("Authentication-Results"); len(ar) != 1 {
		t.Errorf("want our one Authentication-Results, got %q", ar)
	}
}

// Several messages on one SMTP session each get their own results.
func TestTwoMessagesOneSession(t *testing.T) {
	r := startRig(t, "")
	s, err := miltertest.Dial(r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first, err := miltertest.RunOn(s, miltertest.Tx{ClientIP: "192.0.2.10", Helo: "helo.good.test", From: "user@nowhere.test", Rcpts: []string{"a@example.net"}})
	if err != nil {
		t.Fatal(err)
	}
	if first.Refused("a@example.net") == "" {
		t.Fatal("first message should be refused")
	}
	second, err := miltertest.RunOn(s, miltertest.Tx{From: "user@good.test", Rcpts: []string{"a@example.net"},
		Headers: [][2]string{{"From", " <user@good.test>"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := second.Refused("a@example.net"); got != "" {
		t.Fatalf("second message refused: %q", got)
	}
	if ar := second.Header("Authentication-Results"); len(ar) != 1 || !strings.Contains(ar[0], "spf=pass") {
		t.Errorf("second message A-R %q", ar)
	}
}

func TestReload(t *testing.T) {
	r := startRig(t, "")
	listed := miltertest.Tx{ClientIP: "192.0.2.99", From: "user@good.test"}
	if r.run(t, listed).Refused("alice@example.net") == "" {
		t.Fatal("listed client accepted before reload")
	}
	// A broken file keeps the configuration in force.
	writeConfig(t, r.file, baseText(r.dns.Addr, greylistNever, "[spf]\nrejekt_fail = true\n"))
	if err := r.d.Reload(); err == nil || !strings.Contains(err.Error(), "spf.rejekt_fail") {
		t.Fatalf("broken reload: %v", err)
	}
	if r.run(t, listed).Refused("alice@example.net") == "" {
		t.Fatal("broken reload changed the policy")
	}
	// A good one takes effect for new sessions.
	text := strings.Replace(baseText(r.dns.Addr, greylistNever, ""), "threshold = 2", "threshold = 9", 1)
	writeConfig(t, r.file, text)
	if err := r.d.Reload(); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, r.d)
	if got := r.run(t, listed).Refused("alice@example.net"); got != "" {
		t.Fatalf("after reload with threshold 9: %q", got)
	}
}

// Many sessions at once, each answered for its own client: under -race this
// also shows that sessions share nothing they should not.
func TestConcurrentSessions(t *testing.T) {
	r := startRig(t, "")
	const workers, each = 40, 5
	errs := make(chan error, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				listed := (w+i)%2 == 0
				tx := miltertest.Tx{ClientIP: "192.0.2.10", Helo: "helo.good.test", From: "user@good.test",
					Rcpts: []string{"alice@example.net"}, Headers: [][2]string{{"Subject", " x"}}}
				if listed {
					tx.ClientIP = "192.0.2.99"
				}
				res, err := miltertest.Run(r.addr, tx)
				if err != nil {
					errs <- err
					continue
				}
				if got := res.Refused("alice@example.net") != ""; got != listed {
					errs <- fmt.Errorf("worker %d message %d: refused=%v, want %v", w, i, got, listed)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
