package daemon

// Fault injection through the real milter: the DNS server drops, delays,
// fails and truncates; clients abort and vanish mid-transaction. Every case
// must end with the documented reply (a tempfail where DNS trouble blocks a
// decision, never a 5xx it did not earn), within check_timeout + 1s per
// stage, and leave no goroutine or memory behind.

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"
	"github.com/miekg/dns"

	"spamgate/config"
	"spamgate/internal/miltertest"
)

// The replies DESIGN.md fixes, as miltertest's Refused gives them.
const (
	faultTempDNS   = "451 4.4.3 Sender address rejected: temporary DNS failure, try again later"
	faultNotFound  = "550 5.1.8 Sender address rejected: Domain not found"
	faultListed99  = "554 5.7.1 Service unavailable; client [192.0.2.99] blocked using bl.test"
	faultSPFTemp   = "451 4.7.24 SPF validation error"
	faultDMARCText = "5.7.1 Unauthenticated email from bigdmarc.test is not accepted due to its DMARC policy"
)

// faultRig is startRig with the loaded configuration changed by tweak and
// the log written to logw at info level (nil: the test log at debug).
func faultRig(t *testing.T, extra string, tweak func(*config.Config), logw io.Writer) *rig {
	t.Helper()
	return startRigOpts(t, rigOptions{extra: extra, tweak: tweak, log: logw})
}

// faultBound is how long one reply may take: check_timeout + 1s.
func (r *rig) faultBound() time.Duration {
	return r.d.Config().Milter.CheckTimeout.Duration + time.Second
}

// faultErrorLog keeps the ERROR lines of a quiet daemon log (bounded), and
// nothing else, so that the heap being measured does not grow with it.
type faultErrorLog struct {
	mu    sync.Mutex
	lines []string
	n     int
}

func (l *faultErrorLog) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "level=ERROR") {
		l.mu.Lock()
		l.n++
		if len(l.lines) < 10 {
			l.lines = append(l.lines, strings.TrimSpace(string(p)))
		}
		l.mu.Unlock()
	}
	return len(p), nil
}

func (l *faultErrorLog) count() (int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, append([]string(nil), l.lines...)
}

// faultTx fills in what r.run fills in.
func faultTx(tx miltertest.Tx) miltertest.Tx {
	if tx.Helo == "" {
		tx.Helo = "helo.good.test"
	}
	if tx.ClientIP == "" {
		tx.ClientIP = "192.0.2.10"
	}
	if tx.Rcpts == nil {
		tx.Rcpts = []string{"alice@example.net", "bob@example.net"}
	}
	if tx.Headers == nil {
		tx.Headers = [][2]string{{"From", " <user@good.test>"}, {"Subject", " hello"}}
	}
	if tx.QueueID == "" {
		tx.QueueID = "4FAULT1"
	}
	if tx.Body == "" {
		tx.Body = "hello\r\n"
	}
	return tx
}

// faultWait is the longest wait for a reply in a transaction, and where.
type faultWait struct {
	time.Duration
	Stage string
}

func (w faultWait) String() string { return fmt.Sprintf("%v (%s)", w.Round(time.Millisecond), w.Stage) }

// faultTimedTx runs tx as miltertest.Run does (same macros, same stages) and
// also returns the longest wait for one reply: each RCPT, and the body with
// end of message. Safe to call from any goroutine.
func faultTimedTx(addr string, tx miltertest.Tx) (*miltertest.Result, faultWait, error) {
	tx = faultTx(tx)
	var slowest faultWait
	s, err := miltertest.Dial(addr)
	if err != nil {
		return nil, slowest, err
	}
	defer s.Close()
	timed := func(stage string, f func() error) error {
		start := time.Now()
		err := f()
		if d := time.Since(start); d > slowest.Duration {
			slowest = faultWait{d, stage}
		}
		return err
	}
	if err := faultHello(s, tx); err != nil {
		return nil, slowest, err
	}
	if err := s.Macros(gomilter.CodeMail, "i", "", "{auth_authen}", ""); err != nil {
		return nil, slowest, err
	}
	if _, err := s.Mail("<"+tx.From+">", nil); err != nil {
		return nil, slowest, fmt.Errorf("MAIL: %w", err)
	}
	res := &miltertest.Result{Rcpt: map[string]*gomilter.Action{}}
	accepted := 0
	for _, rcpt := range tx.Rcpts {
		if err := s.Macros(gomilter.CodeRcpt, "i", "", "{rcpt_addr}", rcpt); err != nil {
			return nil, slowest, err
		}
		var act *gomilter.Action
		if err := timed("RCPT", func() (err error) { act, err = s.Rcpt("<"+rcpt+">", nil); return err }); err != nil {
			return nil, slowest, fmt.Errorf("RCPT %s: %w", rcpt, err)
		}
		res.Rcpt[rcpt] = act
		if act.Code == gomilter.ActContinue {
			accepted++
		}
	}
	if accepted == 0 {
		return res, slowest, s.Abort() // Postfix does not go on to DATA
	}
	if err := miltertest.Headers(s, tx); err != nil {
		return nil, slowest, err
	}
	if err := s.Macros(gomilter.CodeEOB, "i", tx.QueueID); err != nil {
		return nil, slowest, err
	}
	err = timed("end of message", func() (err error) {
		res.Mods, res.Final, err = s.BodyReadFrom(strings.NewReader(tx.Body))
		return err
	})
	if err != nil {
		return nil, slowest, fmt.Errorf("body: %w", err)
	}
	return res, slowest, nil
}

// faultHello sends CONNECT and HELO with Postfix's macros.
func faultHello(s *gomilter.ClientSession, tx miltertest.Tx) error {
	family := gomilter.FamilyInet
	if strings.Contains(tx.ClientIP, ":") {
		family = gomilter.FamilyInet6
	}
	if err := s.Macros(gomilter.CodeConn, "j", "mx.test", "{daemon_name}", "smtpd", "{client_addr}", tx.ClientIP, "{client_name}", "unknown"); err != nil {
		return err
	}
	if _, err := s.Conn("unknown", family, 25, tx.ClientIP); err != nil {
		return fmt.Errorf("CONNECT: %w", err)
	}
	if _, err := s.Helo(tx.Helo); err != nil {
		return fmt.Errorf("HELO: %w", err)
	}
	return nil
}

// faultAR returns the result of method in the one Authentication-Results
// field ("" when absent), e.g. "pass" for "spf=pass smtp.mailfrom=…".
func faultAR(res *miltertest.Result, method string) string {
	ar := res.Header("Authentication-Results")
	if len(ar) != 1 {
		return ""
	}
	for _, part := range strings.Split(ar[0], ";") {
		part = strings.TrimSpace(part)
		if rest, ok := strings.CutPrefix(part, method+"="); ok {
			result, _, _ := strings.Cut(rest, " ")
			return result
		}
	}
	return ""
}

// faultAccepted checks that every recipient was accepted and the message
// went through (continue at end of message).
func faultAccepted(t *testing.T, res *miltertest.Result, tx miltertest.Tx) {
	t.Helper()
	for _, rcpt := range faultTx(tx).Rcpts {
		if got := res.Refused(rcpt); got != "" {
			t.Errorf("RCPT %s refused: %q", rcpt, got)
		}
	}
	if res.Final == nil || res.Final.Code != gomilter.ActContinue {
		t.Errorf("end of message: %+v, want continue", res.Final)
	}
}

// faultRefused checks that every recipient got reply.
func faultRefused(t *testing.T, res *miltertest.Result, tx miltertest.Tx, reply string) {
	t.Helper()
	for _, rcpt := range faultTx(tx).Rcpts {
		if got := res.Refused(rcpt); got != reply {
			t.Errorf("RCPT %s: got %q, want %q", rcpt, got, reply)
		}
	}
}

// runFault runs tx and fails the test if a reply took longer than the bound.
func (r *rig) runFault(t *testing.T, tx miltertest.Tx) *miltertest.Result {
	t.Helper()
	res, slowest, err := faultTimedTx(r.addr, tx)
	if err != nil {
		t.Fatal(err)
	}
	if bound := r.faultBound(); slowest.Duration > bound {
		t.Errorf("a reply took %v, over check_timeout + 1s (%v)", slowest, bound)
	}
	t.Logf("slowest reply %v", slowest)
	return res
}

// 1. The DNS server drops 30% of the queries (no cache, so every
// transaction asks): each transaction ends with its normal decision or the
// documented tempfail, never a 5xx a clean sender did not earn.
func TestFaultDNSDrops(t *testing.T) {
	t.Parallel()
	// No cache: every transaction asks. A shorter DNS timeout than the
	// rig's 1s: each lost query costs one.
	r := faultRig(t, "", func(c *config.Config) {
		c.DNS.CacheSize, c.DNS.Timeout.Duration = -1, 500*time.Millisecond
	}, &faultErrorLog{})
	r.dns.SetDropRate(0.3)
	kinds := []struct {
		name  string
		tx    miltertest.Tx
		rcpt  []string // the RCPT replies allowed ("" accepts)
		clean bool     // would pass: no 5xx anywhere, A-R spf/dmarc pass or temperror
	}{
		// The normal decision is acceptance; a lost MX answer tempfails.
		{"clean", miltertest.Tx{From: "user@good.test"}, []string{"", faultTempDNS}, true},
		// NXDOMAIN is 550 5.1.8; a lost answer tempfails, never more.
		{"nxdomain", miltertest.Tx{From: "user@nowhere.test"}, []string{faultNotFound, faultTempDNS}, false},
		// Listed by bl.test; a lost bl.test answer skips the zone for
		// this client (fail open, as documented).
		{"listed", miltertest.Tx{ClientIP: "192.0.2.99", From: "user@good.test"}, []string{faultListed99, "", faultTempDNS}, false},
	}
	const each = 12
	type outcome struct {
		kind    int
		res     *miltertest.Result
		slowest faultWait
		err     error
	}
	out := make(chan outcome, len(kinds)*each)
	var wg sync.WaitGroup
	for k := range kinds {
		for range each {
			wg.Go(func() {
				res, slowest, err := faultTimedTx(r.addr, kinds[k].tx)
				out <- outcome{k, res, slowest, err}
			})
		}
	}
	wg.Wait()
	close(out)
	counts := map[string]int{}
	var slowest faultWait
	bound := r.faultBound()
	for o := range out {
		k := kinds[o.kind]
		if o.err != nil {
			t.Errorf("%s: %v", k.name, o.err)
			continue
		}
		if o.slowest.Duration > slowest.Duration {
			slowest = o.slowest
		}
		if o.slowest.Duration > bound {
			t.Errorf("%s: a reply took %v, over %v", k.name, o.slowest, bound)
		}
		reply := o.res.Refused("alice@example.net")
		accepted := false
		for _, rcpt := range faultTx(k.tx).Rcpts {
			got := o.res.Refused(rcpt)
			if !slices.Contains(k.rcpt, got) {
				t.Errorf("%s: RCPT %s got %q, want one of %q", k.name, rcpt, got, k.rcpt)
			}
			accepted = accepted || got == ""
		}
		key := k.name + " rcpt=" + cmp.Or(reply, "accepted")
		if accepted && o.res.Final != nil && o.res.Final.SMTPCode == 451 && strings.HasPrefix(o.res.Final.SMTPText, "4.7.5 ") {
			// The DMARC policy could not be read ([dmarc] on_temperror =
			// "tempfail"): the sender retries, nothing is lost.
			counts[key+" eom=451 4.7.5"]++
			continue
		}
		if accepted {
			if o.res.Final == nil || o.res.Final.Code != gomilter.ActContinue {
				t.Errorf("%s: end of message %+v, want continue", k.name, o.res.Final)
			}
			spf, dmarc := faultAR(o.res, "spf"), faultAR(o.res, "dmarc")
			if k.clean && (!slices.Contains([]string{"pass", "temperror"}, spf) || !slices.Contains([]string{"pass", "temperror"}, dmarc)) {
				t.Errorf("%s: spf=%q dmarc=%q, want pass or temperror; A-R %q", k.name, spf, dmarc, o.res.Header("Authentication-Results"))
			}
			key += " spf=" + spf + " dmarc=" + dmarc
		}
		counts[key]++
	}
	for key, n := range counts {
		t.Logf("%3d × %s", n, key)
	}
	t.Logf("slowest reply %v (bound %v); %d queries reached the server", slowest, bound, r.dns.Queries())
	if counts["clean rcpt=accepted spf=pass dmarc=pass"] == 0 {
		t.Error("no clean transaction got its normal decision at a 30% drop rate")
	}
}

// 2. Slow DNS: answers later than the DNS timeout (or the check timeout)
// give the documented tempfail within the bound; answers that are slow but
// within the timeout give the normal decision.
func TestFaultDNSDelay(t *testing.T) {
	t.Parallel()
	clean := miltertest.Tx{From: "user@good.test"}
	tests := []struct {
		name  string
		tweak func(*config.Config)
		setup func(*rig)
		tx    miltertest.Tx
		want  string // RCPT reply; "" = accepted with spf=pass and dmarc=pass
	}{
		// 1.5s > [dns] timeout 1s: both attempts time out (2s) inside
		// the 3s check timeout; the sender domain cannot be decided.
		{"every answer later than the dns timeout", nil,
			func(r *rig) { r.dns.SetDelay(1500 * time.Millisecond) }, clean, faultTempDNS},
		// 600ms < 1s: slow, but every lookup (PTR then A, the DMARC
		// walk) fits in the 3s check timeout.
		{"slow answers within the dns timeout", nil,
			func(r *rig) { r.dns.SetDelay(600 * time.Millisecond) }, clean, ""},
		// The DNS timeout (4s) is longer than check_timeout (2s here):
		// the check timeout alone ends the lookups.
		{"answers later than check_timeout", func(c *config.Config) {
			c.DNS.Timeout.Duration, c.Milter.CheckTimeout.Duration = 4*time.Second, 2*time.Second
		}, func(r *rig) { r.dns.SetDelay(3 * time.Second) }, clean, faultTempDNS},
		// Only the sender domain's MX goes unanswered: the one blocked
		// decision tempfails.
		{"sender MX never answered", nil, func(r *rig) {
			if err := r.zone.AddText(`hang.test. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"`); err != nil {
				t.Fatal(err)
			}
			r.zone.Timeout("hang.test.", dns.TypeMX)
		}, miltertest.Tx{From: "user@hang.test"}, faultTempDNS},
	}
	// The rows wait on timeouts: they run at once, then are judged.
	type outcome struct {
		res     *miltertest.Result
		slowest faultWait
		err     error
	}
	rigs := make([]*rig, len(tests))
	outs := make([]outcome, len(tests))
	for i, tt := range tests {
		rigs[i] = faultRig(t, "", tt.tweak, &faultErrorLog{})
		tt.setup(rigs[i])
	}
	var wg sync.WaitGroup
	for i, tt := range tests {
		wg.Go(func() {
			o := &outs[i]
			o.res, o.slowest, o.err = faultTimedTx(rigs[i].addr, tt.tx)
		})
	}
	wg.Wait()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := outs[i]
			if o.err != nil {
				t.Fatal(o.err)
			}
			bound := rigs[i].faultBound()
			t.Logf("slowest reply %v (bound %v)", o.slowest, bound)
			if o.slowest.Duration > bound {
				t.Errorf("a reply took %v, over check_timeout + 1s (%v)", o.slowest, bound)
			}
			if tt.want != "" {
				faultRefused(t, o.res, tt.tx, tt.want)
				return
			}
			faultAccepted(t, o.res, tt.tx)
			if spf, dmarc := faultAR(o.res, "spf"), faultAR(o.res, "dmarc"); spf != "pass" || dmarc != "pass" {
				t.Errorf("spf=%q dmarc=%q, want pass; A-R %q", spf, dmarc, o.res.Header("Authentication-Results"))
			}
		})
	}
}

// 3. SERVFAIL, name by name: the sender domain tempfails (451 4.4.3); the
// SPF record gives spf=temperror, only recorded unless reject_errors
// (451 4.7.24); _dmarc gives dmarc=temperror, which asks for a retry
// (451 4.7.5) unless [dmarc] on_temperror = "accept"; a DNSBL zone that
// fails is skipped.
func TestFaultServFail(t *testing.T) {
	t.Parallel()
	r := startRig(t, "")
	strict := startRig(t, "[spf]\nreject_errors = true\n")
	accept := startRig(t, "[dmarc]\non_temperror = \"accept\"\n")
	for _, z := range []*rig{r, strict, accept} {
		if err := z.zone.AddText("spfsf.test. 300 IN MX 10 mx.good.test.\ndmsf.test. 300 IN MX 10 mx.good.test.\n"); err != nil {
			t.Fatal(err)
		}
		z.zone.ServFail("spfsf.test.", dns.TypeTXT)
		z.zone.ServFail("_dmarc.dmsf.test.", dns.TypeTXT)
	}

	t.Run("sender domain", func(t *testing.T) {
		tx := miltertest.Tx{From: "user@servfail.test"}
		faultRefused(t, r.runFault(t, tx), tx, faultTempDNS)
	})
	t.Run("spf record, reject_errors off", func(t *testing.T) {
		tx := miltertest.Tx{From: "user@spfsf.test"}
		res := r.runFault(t, tx)
		faultAccepted(t, res, tx)
		if ar := res.Header("Authentication-Results"); len(ar) != 1 || !strings.Contains(ar[0], "spf=temperror smtp.mailfrom=user@spfsf.test") {
			t.Errorf("Authentication-Results %q", ar)
		}
	})
	t.Run("spf record, reject_errors on", func(t *testing.T) {
		tx := miltertest.Tx{From: "user@spfsf.test"}
		faultRefused(t, strict.runFault(t, tx), tx, faultSPFTemp)
	})
	t.Run("dmarc record", func(t *testing.T) {
		// The policy cannot be read: it may say reject, so the sender is
		// asked to retry ([dmarc] on_temperror = "tempfail"), never
		// delivered unchecked.
		tx := miltertest.Tx{From: "user@good.test", Headers: [][2]string{{"From", " <ceo@dmsf.test>"}, {"Subject", " x"}}}
		res := r.runFault(t, tx)
		if res.Final == nil || res.Final.SMTPCode != 451 || !strings.HasPrefix(res.Final.SMTPText, "4.7.5 DMARC policy of dmsf.test") {
			t.Errorf("end of message %+v, want 451 4.7.5", res.Final)
		}
	})
	t.Run("dmarc record, on_temperror accept", func(t *testing.T) {
		tx := miltertest.Tx{From: "user@good.test", Headers: [][2]string{{"From", " <ceo@dmsf.test>"}, {"Subject", " x"}}}
		res := accept.runFault(t, tx)
		faultAccepted(t, res, tx)
		if ar := res.Header("Authentication-Results"); len(ar) != 1 || !strings.Contains(ar[0], "dmarc=temperror header.from=dmsf.test") {
			t.Errorf("Authentication-Results %q", ar)
		}
	})
	t.Run("dnsbl zone", func(t *testing.T) {
		// bl.test answers SERVFAIL for 192.0.2.98: that zone is an
		// error for this client, neither a listing nor a tempfail;
		// light.test's listing (weight 1) stays under the threshold.
		if err := r.zone.AddText("98.2.0.192.light.test. 300 IN A 127.0.0.2"); err != nil {
			t.Fatal(err)
		}
		r.zone.ServFail("98.2.0.192.bl.test.", dns.TypeANY)
		tx := miltertest.Tx{ClientIP: "192.0.2.98", From: "user@good.test"}
		faultAccepted(t, r.runFault(t, tx), tx)
		for _, want := range []string{`client=192\.0\.2\.98 .*zone=bl\.test status=error`, `client=192\.0\.2\.98 .*zone=light\.test status=listed`} {
			if !regexp.MustCompile(want).MatchString(r.logs.String()) {
				t.Errorf("no log line matches %s", want)
			}
		}
	})
}

// 4. Every UDP answer truncated: the resolver retries over TCP and the
// decisions are the normal ones (an empty truncated answer taken as it is
// would make good.test "not found").
func TestFaultTruncatedUDP(t *testing.T) {
	t.Parallel()
	r := startRig(t, "")
	r.dns.SetTruncateUDP(true)
	before := r.d.resolver.Stats().Queries
	clean := miltertest.Tx{From: "user@good.test"}
	res := r.runFault(t, clean)
	faultAccepted(t, res, clean)
	for _, m := range []string{"spf", "dmarc", "iprev"} {
		if got := faultAR(res, m); got != "pass" {
			t.Errorf("%s=%q, want pass; A-R %q", m, got, res.Header("Authentication-Results"))
		}
	}
	listed := miltertest.Tx{ClientIP: "192.0.2.99", From: "user@good.test"}
	faultRefused(t, r.runFault(t, listed), listed, faultListed99)
	nx := miltertest.Tx{From: "user@nowhere.test"}
	faultRefused(t, r.runFault(t, nx), nx, faultNotFound)
	t.Logf("%d queries sent (UDP and the TCP retries)", r.d.resolver.Stats().Queries-before)
}

// 5. Oversized answers, far over 512 bytes and EDNS0's 1232: read whole
// over TCP and decided on; an RRset too big for any DNS message (over
// 64 KiB) tempfails.
func TestFaultOversizedAnswers(t *testing.T) {
	t.Parallel()
	r := startRig(t, "")
	hdr := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: 300}
	}
	// 300 TXT records at _dmarc.bigdmarc.test (about 18 KB), one of them
	// DMARC with p=reject: found, and enforced.
	r.zone.Add(&dns.TXT{Hdr: hdr("_dmarc.bigdmarc.test.", dns.TypeTXT), Txt: []string{"v=DMARC1; p=reject"}})
	for i := range 299 {
		r.zone.Add(&dns.TXT{Hdr: hdr("_dmarc.bigdmarc.test.", dns.TypeTXT),
			Txt: []string{fmt.Sprintf("site-verification=%04d-0123456789abcdef0123456789abcdef", i)}})
	}
	r.zone.Add(&dns.MX{Hdr: hdr("bigdmarc.test.", dns.TypeMX), Preference: 10, Mx: "mx.good.test."})
	// bigspf.test: 200 MX records and one SPF record in 300 strings
	// (about 6 KB) whose last mechanism covers the client.
	for i := range 200 {
		r.zone.Add(&dns.MX{Hdr: hdr("bigspf.test.", dns.TypeMX), Preference: uint16(i), Mx: fmt.Sprintf("mx%d.good.test.", i)})
	}
	spf := []string{"v=spf1"}
	for i := range 298 {
		spf = append(spf, fmt.Sprintf(" ip4:198.51.%d.%d", i/250, i%250))
	}
	spf = append(spf, " ip4:192.0.2.0/24 -all")
	r.zone.Add(&dns.TXT{Hdr: hdr("bigspf.test.", dns.TypeTXT), Txt: spf})
	// hugemx.test: 2000 MX records, over 64 KiB: no server can send it.
	for i := range 2000 {
		r.zone.Add(&dns.MX{Hdr: hdr("hugemx.test.", dns.TypeMX), Preference: 10, Mx: fmt.Sprintf("mx%04d.hugemx-hosts.good.test.", i)})
	}

	t.Run("300 TXT records at _dmarc", func(t *testing.T) {
		tx := miltertest.Tx{From: "user@good.test", Headers: [][2]string{{"From", " <ceo@bigdmarc.test>"}}}
		res := r.runFault(t, tx)
		if res.Final == nil || res.Final.Code != gomilter.ActReplyCode || res.Final.SMTPCode != 550 || res.Final.SMTPText != faultDMARCText {
			t.Errorf("end of message: %+v, want 550 %s", res.Final, faultDMARCText)
		}
	})
	t.Run("SPF record in 300 strings, 200 MX", func(t *testing.T) {
		tx := miltertest.Tx{From: "user@bigspf.test", Headers: [][2]string{{"From", " <user@bigspf.test>"}}}
		res := r.runFault(t, tx)
		faultAccepted(t, res, tx)
		if ar := res.Header("Authentication-Results"); len(ar) != 1 || !strings.Contains(ar[0], "spf=pass smtp.mailfrom=user@bigspf.test") {
			t.Errorf("Authentication-Results %q", ar)
		}
	})
	t.Run("MX RRset over 64 KiB", func(t *testing.T) {
		tx := miltertest.Tx{From: "user@hugemx.test"}
		faultRefused(t, r.runFault(t, tx), tx, faultTempDNS)
	})
}

// faultDialer keeps the connection it dials, so that a test can drop it the
// way a killed smtpd does: no ABORT, no QUIT.
type faultDialer struct {
	net.Dialer
	conn net.Conn
}

func (d *faultDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := d.Dialer.Dial(network, addr)
	d.conn = c
	return c, err
}

// faultDialRaw is miltertest.Dial that also returns the connection.
func faultDialRaw(addr string) (*gomilter.ClientSession, net.Conn, error) {
	d := &faultDialer{Dialer: net.Dialer{Timeout: 5 * time.Second}}
	c := gomilter.NewClientWithOptions("tcp", addr, gomilter.ClientOptions{
		Dialer: d, ReadTimeout: 30 * time.Second, WriteTimeout: 10 * time.Second,
		ActionMask: gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine,
	})
	s, err := c.Session()
	if err != nil {
		return nil, nil, err
	}
	return s, d.conn, nil
}

// How an aborted transaction ends.
type faultAbortKind int

const (
	faultAbortMidBody    faultAbortKind = iota // ABORT after a body chunk, then QUIT
	faultDropMidBody                           // connection closed after a body chunk
	faultDropBeforeData                        // connection closed after RCPT was answered
	faultDropLookups                           // closed after MAIL, its lookups unanswered
	faultDropRcptWaiting                       // closed while RCPT waits for those lookups
	faultAbortKinds
)

func (k faultAbortKind) String() string {
	return [...]string{"abort mid-body", "close mid-body", "close between RCPT and DATA",
		"close with lookups pending", "close while RCPT waits"}[k]
}

// faultAbortedTx runs one transaction that ends as kind says. Mid-body, a
// DKIM signature whose key lookup never gets an answer makes a verifier
// waiting on DNS part of what must be cleaned up.
func faultAbortedTx(addr string, kind faultAbortKind) error {
	s, conn, err := faultDialRaw(addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	sender := "user@good.test"
	if kind == faultDropLookups || kind == faultDropRcptWaiting {
		sender = "user@pending.test"
	}
	tx := faultTx(miltertest.Tx{From: sender, Headers: [][2]string{
		{"DKIM-Signature", " v=1; a=rsa-sha256; c=relaxed/relaxed; d=pending.test; s=sel; h=from; bh=AAAA; b=AAAA"},
		{"From", " <" + sender + ">"}, {"Subject", " aborted"}}})
	if err := faultHello(s, tx); err != nil {
		return err
	}
	if _, err := s.Mail("<"+tx.From+">", nil); err != nil {
		return err
	}
	switch kind {
	case faultDropLookups:
		// MAIL gets no reply; it is read before the end of the stream.
		return conn.Close()
	case faultDropRcptWaiting:
		// RCPT written by hand and its reply never read: the connection
		// is gone while the daemon waits on the sender's lookups.
		data := append([]byte{byte(gomilter.CodeRcpt)}, "<alice@example.net>\x00"...)
		if _, err := conn.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(data))), data...)); err != nil {
			return err
		}
		return conn.Close()
	}
	act, err := s.Rcpt("<alice@example.net>", nil)
	if err != nil {
		return err
	}
	if act.Code != gomilter.ActContinue {
		return fmt.Errorf("%v: RCPT refused: %+v", kind, act)
	}
	if kind == faultDropBeforeData {
		return conn.Close()
	}
	if err := miltertest.Headers(s, tx); err != nil {
		return err
	}
	if _, err := s.BodyChunk([]byte(strings.Repeat("body line of an aborted message\r\n", 1000))); err != nil {
		return err
	}
	if kind == faultDropMidBody {
		return conn.Close()
	}
	if err := s.Abort(); err != nil {
		return err
	}
	return s.Close()
}

// faultAbortBatch runs n aborted transactions, the kinds in turn, eight at a time.
func faultAbortBatch(t *testing.T, addr string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := faultAbortedTx(addr, faultAbortKind(i)%faultAbortKinds); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// faultGoroutines waits until the goroutine count is at most limit (or,
// with limit < 0, until it has not changed for 300ms), for up to wait; it
// returns the last count.
func faultGoroutines(limit int, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	last, since := runtime.NumGoroutine(), time.Now()
	for {
		time.Sleep(20 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n != last {
			last, since = n, time.Now()
		}
		if limit >= 0 && n <= limit || limit < 0 && time.Since(since) >= 300*time.Millisecond || time.Now().After(deadline) {
			return n
		}
	}
}

// faultNoSessions waits until the daemon has no session open.
func faultNoSessions(t *testing.T, r *rig, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for n := r.d.srv.ActiveSessions(); n != 0; n = r.d.srv.ActiveSessions() {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still open %v after the last transaction", n, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func faultHeap() (inuse, alloc uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.HeapAlloc
}

// 6. Aborted transactions by the hundred: ABORT or a dropped connection
// mid-body, a drop between RCPT and DATA, drops while lookups are pending
// (after MAIL, and while RCPT waits for them). Afterwards the goroutines
// are back to the baseline, the heap does not grow from one batch to the
// next, and a normal transaction still works.
func TestFaultAbortedTransactions(t *testing.T) {
	elog := &faultErrorLog{}
	// A quiet log: the test log would grow the heap being measured.
	// Short timeouts (the rig's are 1s and 3s): a RCPT waiting on
	// lookups that never answer holds its session for check_timeout.
	r := faultRig(t, "", func(c *config.Config) {
		c.DNS.Timeout.Duration, c.Milter.CheckTimeout.Duration = 300*time.Millisecond, time.Second
	}, elog)
	// Every query about pending.test goes unanswered (no goroutine
	// waits in the DNS server, only in spamgate).
	r.zone.Timeout("pending.test.", dns.TypeANY)
	r.zone.Timeout("sel._domainkey.pending.test.", dns.TypeANY)
	clean := miltertest.Tx{From: "user@good.test"}

	// Warm up: every path once, so that lazily started goroutines and
	// the DNS cache are there before the baseline.
	faultAccepted(t, r.runFault(t, clean), clean)
	faultAbortBatch(t, r.addr, 2*int(faultAbortKinds))
	const slack = 3
	settleWait := r.faultBound() + 2*time.Second // the RCPT waiting on lookups ends within check_timeout
	faultNoSessions(t, r, settleWait)
	base := faultGoroutines(-1, settleWait)
	heap0, alloc0 := faultHeap()

	const n = 200
	var heaps [2]uint64
	var allocs [2]uint64
	for batch := range 2 {
		start := time.Now()
		faultAbortBatch(t, r.addr, n)
		ran, busy := time.Since(start), runtime.NumGoroutine()
		faultNoSessions(t, r, settleWait)
		got := faultGoroutines(base+slack, settleWait)
		t.Logf("batch %d: %d aborted transactions in %v; goroutines %d at its end, %d %v later (baseline %d)",
			batch+1, n, ran.Round(time.Millisecond), busy, got, (time.Since(start) - ran).Round(time.Millisecond), base)
		if got > base+slack {
			buf := make([]byte, 1<<20)
			t.Errorf("batch %d: %d goroutines %v after the last transaction, baseline %d:\n%s",
				batch+1, got, settleWait, base, buf[:runtime.Stack(buf, true)])
			return
		}
		heaps[batch], allocs[batch] = faultHeap()
	}
	grew := int64(heaps[1]) - int64(heaps[0])
	t.Logf("heap in use after GC: %.2f MiB before, %.2f MiB after batch 1, %.2f MiB after batch 2 (%+.1f KiB); live heap %.2f → %.2f → %.2f MiB",
		faultMiB(heap0), faultMiB(heaps[0]), faultMiB(heaps[1]), float64(grew)/1024, faultMiB(alloc0), faultMiB(allocs[0]), faultMiB(allocs[1]))
	const maxGrowth = 1 << 20
	if grew > maxGrowth {
		t.Errorf("heap in use grew by %d KiB from one batch of %d aborted transactions to the next (bound %d KiB)", grew>>10, n, maxGrowth>>10)
	}

	// The session still works after an ABORT mid-body: the next
	// message on the same connection gets its normal decision.
	s, err := miltertest.Dial(r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tx := faultTx(clean)
	if err := faultHello(s, tx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mail("<user@good.test>", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rcpt("<alice@example.net>", nil); err != nil {
		t.Fatal(err)
	}
	if err := miltertest.Headers(s, tx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BodyChunk([]byte("half a body\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.Abort(); err != nil {
		t.Fatal(err)
	}
	next, err := miltertest.RunOn(s, miltertest.Tx{From: "user@good.test", Rcpts: []string{"alice@example.net"},
		QueueID: "4FAULT2", Headers: [][2]string{{"From", " <user@good.test>"}}, Body: "x\r\n"})
	if err != nil {
		t.Fatal(err)
	}
	faultAccepted(t, next, miltertest.Tx{Rcpts: []string{"alice@example.net"}})
	if spf := faultAR(next, "spf"); spf != "pass" {
		t.Errorf("message after an abort: spf=%q; A-R %q", spf, next.Header("Authentication-Results"))
	}
	// And a new connection too.
	faultAccepted(t, r.runFault(t, clean), clean)
	if n, lines := elog.count(); n > 0 {
		t.Errorf("%d errors logged, e.g.:\n%s", n, strings.Join(lines, "\n"))
	}
}

func faultMiB(b uint64) float64 { return float64(b) / (1 << 20) }

// A SIGTERM that arrives as the daemon starts: Shutdown must return within
// its ctx (plus a little), not wait for an accept loop that never ends.
func TestFaultShutdownRightAfterStart(t *testing.T) {
	r := startRig(t, "")
	cfg, err := config.Load(r.file)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Start(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		done <- d.Shutdown(ctx)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("shutdown: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Shutdown right after Start still blocked 3s later (its ctx: 1s)")
	}
}
