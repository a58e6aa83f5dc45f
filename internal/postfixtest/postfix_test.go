package postfixtest

import (
	"context"
	"crypto/tls"
	"errors"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-milter"
)

const testMessage = "From: sender@client.test\n" +
	"To: ok@dest.test\n" +
	"Subject: postfixtest\n" +
	"\n" +
	"Hello.\n" +
	".a line that starts with a dot\n"

func send(t *testing.T, addr string, m Mail) Transcript {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := Send(ctx, addr, m)
	if err != nil {
		t.Fatalf("send: %v\ntranscript so far:\n%v", err, tr)
	}
	t.Logf("transcript:\n%v", tr)
	return tr
}

// (a) Postfix without a milter relays a message to the sink.
func TestRelayWithoutMilter(t *testing.T) {
	t.Parallel()
	sink := StartSink(t)
	begin := time.Now()
	pf := Start(t, Options{Relay: sink.Addr})
	t.Logf("Start took %v", time.Since(begin))

	tr := send(t, pf.SMTPAddr, Mail{
		From: "sender@client.test",
		To:   []string{"ok@dest.test", "second@dest.test"},
		Data: []byte(testMessage),
	})
	if tr.Greeting.Code != 220 || tr.Mail.Code != 250 || tr.Message.Code != 250 || tr.QueueID() == "" {
		t.Fatalf("transaction not accepted:\n%v", tr)
	}
	for i, r := range tr.Rcpt {
		if r.Code != 250 || r.Enhanced != "2.1.5" {
			t.Errorf("rcpt %d: got %v, want 250 2.1.5", i, r)
		}
	}

	msgs := sink.WaitMessages(t, 1, 10*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("sink got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "sender@client.test" {
		t.Errorf("envelope sender %q", m.From)
	}
	if !slices.Equal(m.To, []string{"ok@dest.test", "second@dest.test"}) {
		t.Errorf("envelope recipients %q", m.To)
	}
	if got := m.Header.Get("Subject"); got != "postfixtest" {
		t.Errorf("Subject %q", got)
	}
	if !strings.Contains(m.Header.Get("Received"), tr.QueueID()) {
		t.Errorf("Received %q lacks queue ID %s", m.Header.Get("Received"), tr.QueueID())
	}
	if body := string(m.Body()); body != "Hello.\r\n.a line that starts with a dot\r\n" {
		t.Errorf("body %q", body)
	}
	// The sink has the message before Postfix's smtp process logs the
	// delivery: wait for the line.
	want := tr.QueueID() + ": to=<ok@dest.test>, relay=127.0.0.1[127.0.0.1]"
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(pf.Log(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("log does not show the delivery of %s:\n%s", tr.QueueID(), pf.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// (b) A go-milter v0.5.0 milter refuses one recipient of two and adds a header at the end
// of the message: the client sees the per-recipient 550 5.7.10, and the sink gets the
// message for the other recipient, with the header.
func TestMilterRejectsOneRecipient(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	milterAddr := startMilter(t, func() milter.Milter {
		return &testMilter{rec: rec, rejectRcpt: "tls-only@dest.test"}
	})
	sink := StartSink(t)
	pf := Start(t, Options{Milter: milterAddr, Relay: sink.Addr})

	tr := send(t, pf.SMTPAddr, Mail{
		Source: "127.0.0.2", // a client other than Postfix's own address
		From:   "sender@client.test",
		To:     []string{"ok@dest.test", "tls-only@dest.test"},
		Data:   []byte(testMessage),
	})
	if len(tr.Rcpt) != 2 {
		t.Fatalf("got %d RCPT replies, want 2:\n%v", len(tr.Rcpt), tr)
	}
	if r := tr.Rcpt[0]; r.Code != 250 {
		t.Errorf("ok@dest.test: got %v, want 250", r)
	}
	if r := tr.Rcpt[1]; r.Code != 550 || r.Enhanced != "5.7.10" || r.Text != "5.7.10 Encryption needed" {
		t.Errorf("tls-only@dest.test: got %v, want 550 5.7.10 Encryption needed", r)
	}
	if tr.Message.Code != 250 {
		t.Fatalf("message not accepted: %v", tr.Message)
	}

	m := sink.WaitMessages(t, 1, 10*time.Second)[0]
	if !slices.Equal(m.To, []string{"ok@dest.test"}) {
		t.Errorf("sink got recipients %q, want only ok@dest.test", m.To)
	}
	if got := m.Header.Get("X-Postfixtest"); got != "milter was here" {
		t.Errorf("X-Postfixtest header %q, want %q\n%s", got, "milter was here", m.Raw)
	}
	if calls := rec.stages(); !slices.Contains(calls, "eom") {
		t.Errorf("milter saw %q, no end of message", calls)
	}
	if c := rec.all()[0]; c.stage != "connect" || c.arg != "[127.0.0.2] tcp4 127.0.0.2" {
		t.Errorf("milter's first callback: %s(%q), want connect from 127.0.0.2", c.stage, c.arg)
	}
	// Postfix 3.7 offers milter protocol 6, go-milter answers 2: accepted silently.
	if log := pf.Log(); strings.Contains(log, "warning:") {
		t.Errorf("Postfix warned:\n%s", log)
	}
}

// (c) STARTTLS works when Options.TLS is set, and the milter sees {tls_version} at HELO.
func TestTLSMacroAtHelo(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	milterAddr := startMilter(t, func() milter.Milter { return &testMilter{rec: rec} })
	pf := Start(t, Options{Milter: milterAddr, TLS: true})

	tr := send(t, pf.SMTPAddr, Mail{
		From: "sender@client.test", To: []string{"ok@dest.test"},
		Data: []byte(testMessage), StartTLS: true,
	})
	if tr.TLS == nil || tr.Message.Code != 250 {
		t.Fatalf("TLS session did not deliver:\n%v", tr)
	}
	// What a milter sees in a TLS session with Postfix's default macro lists.
	for _, c := range rec.all() {
		t.Logf("milter %s(%q) macros %v", c.stage, c.arg, c.macros)
	}
	helos := rec.macrosAt("helo")
	// The first EHLO is in cleartext; the one after STARTTLS carries the TLS macros.
	if len(helos) != 2 {
		t.Fatalf("milter saw %d HELO callbacks, want 2 (before and after STARTTLS)", len(helos))
	}
	if _, ok := helos[0]["{tls_version}"]; ok {
		t.Errorf("{tls_version} present before STARTTLS: %v", helos[0])
	}
	if v := helos[1]["{tls_version}"]; v != opensslVersion(tr.TLS.Version) {
		t.Errorf("{tls_version} after STARTTLS is %q, want %q", v, opensslVersion(tr.TLS.Version))
	}
	if helos[1]["{cipher}"] != tls.CipherSuiteName(tr.TLS.CipherSuite) {
		t.Logf("note: {cipher} %q (OpenSSL name) vs Go's %q", helos[1]["{cipher}"],
			tls.CipherSuiteName(tr.TLS.CipherSuite))
	}
	// Postfix's default milter_rcpt_macros do not include {tls_version}.
	for _, m := range rec.macrosAt("rcpt") {
		if _, ok := m["{tls_version}"]; ok {
			t.Errorf("{tls_version} at RCPT with default milter_rcpt_macros: %v", m)
		}
	}

	// A cleartext session on the same instance: no TLS macros at all.
	rec.reset()
	tr = send(t, pf.SMTPAddr, Mail{From: "sender@client.test", To: []string{"ok@dest.test"},
		Data: []byte(testMessage)})
	if tr.TLS != nil || tr.Message.Code != 250 {
		t.Fatalf("cleartext session did not deliver:\n%v", tr)
	}
	for _, m := range rec.macrosAt("helo") {
		if _, ok := m["{tls_version}"]; ok {
			t.Errorf("{tls_version} in a cleartext session: %v", m)
		}
	}
}

// An admin can have {tls_version} sent with RCPT too, through MainCF.
func TestTLSMacroAtRcptWhenConfigured(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	milterAddr := startMilter(t, func() milter.Milter { return &testMilter{rec: rec} })
	pf := Start(t, Options{Milter: milterAddr, TLS: true, MainCF: map[string]string{
		"milter_rcpt_macros": "i {rcpt_addr} {rcpt_host} {rcpt_mailer} {tls_version}",
	}})
	tr := send(t, pf.SMTPAddr, Mail{From: "sender@client.test", To: []string{"ok@dest.test"},
		Data: []byte(testMessage), StartTLS: true})
	if tr.TLS == nil || tr.Message.Code != 250 {
		t.Fatalf("TLS session did not deliver:\n%v", tr)
	}
	rcpts := rec.macrosAt("rcpt")
	if len(rcpts) != 1 || rcpts[0]["{tls_version}"] != opensslVersion(tr.TLS.Version) {
		t.Errorf("macros at RCPT: %v, want {tls_version}=%s", rcpts, opensslVersion(tr.TLS.Version))
	}
}

// opensslVersion names a TLS version the way Postfix's {tls_version} macro does (OpenSSL's
// SSL_get_version: "TLSv1.3"), which differs from Go's tls.VersionName ("TLS 1.3").
func opensslVersion(v uint16) string {
	return strings.Replace(tls.VersionName(v), "TLS ", "TLSv", 1)
}

// A milter on a unix-domain socket works when the socket lives in a SocketDir and is
// writable by the postfix user.
func TestMilterOnUnixSocket(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	path := filepath.Join(SocketDir(t), "milter.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("milter listen: %v", err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	spec := serveMilter(t, ln, func() milter.Milter {
		return &testMilter{rec: rec, rejectRcpt: "tls-only@dest.test"}
	})
	pf := Start(t, Options{Milter: spec})
	tr := send(t, pf.SMTPAddr, Mail{From: "sender@client.test",
		To: []string{"ok@dest.test", "tls-only@dest.test"}, Data: []byte(testMessage)})
	if len(tr.Rcpt) != 2 || tr.Rcpt[1].Code != 550 || tr.Message.Code != 250 {
		t.Fatalf("unexpected transcript:\n%v", tr)
	}
	if !slices.Contains(rec.stages(), "eom") {
		t.Errorf("milter saw %q, no end of message", rec.stages())
	}
}

// startMilter serves newMilter on a loopback port for the test and returns the
// smtpd_milters value for it.
func startMilter(t *testing.T, newMilter func() milter.Milter) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("milter listen: %v", err)
	}
	return serveMilter(t, ln, newMilter)
}

// serveMilter serves newMilter on ln until the test ends and returns the smtpd_milters
// value for ln.
func serveMilter(t *testing.T, ln net.Listener, newMilter func() milter.Milter) string {
	t.Helper()
	srv := &milter.Server{NewMilter: newMilter, Actions: milter.OptAddHeader}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		// Closing the listener ourselves rather than srv.Close: go-milter's Close sets a
		// flag that Serve reads without synchronisation, which the race detector reports.
		ln.Close()
		if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("milter server: %v", err)
		}
	})
	if ln.Addr().Network() == "unix" {
		return "unix:" + ln.Addr().String()
	}
	return "inet:" + ln.Addr().String()
}

// recorder collects what the milter saw, across its per-connection instances.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

type call struct {
	stage  string
	arg    string // the callback's main argument: host, HELO name, address
	macros map[string]string
}

func (r *recorder) add(stage, arg string, macros map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{stage, arg, maps.Clone(macros)})
}

func (r *recorder) all() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

func (r *recorder) stages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, c := range r.calls {
		s = append(s, c.stage)
	}
	return s
}

func (r *recorder) macrosAt(stage string) []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ms []map[string]string
	for _, c := range r.calls {
		if c.stage == stage {
			ms = append(ms, c.macros)
		}
	}
	return ms
}

// testMilter records every callback with its macros, refuses rejectRcpt with a custom
// per-recipient reply and adds a header at the end of the message.
type testMilter struct {
	milter.NoOpMilter
	rec        *recorder
	rejectRcpt string
}

func (m *testMilter) Connect(host, family string, port uint16, addr net.IP, mod *milter.Modifier) (milter.Response, error) {
	m.rec.add("connect", host+" "+family+" "+addr.String(), mod.Macros)
	return milter.RespContinue, nil
}

func (m *testMilter) Helo(name string, mod *milter.Modifier) (milter.Response, error) {
	m.rec.add("helo", name, mod.Macros)
	return milter.RespContinue, nil
}

func (m *testMilter) MailFrom(from string, mod *milter.Modifier) (milter.Response, error) {
	m.rec.add("mail", from, mod.Macros)
	return milter.RespContinue, nil
}

func (m *testMilter) RcptTo(rcpt string, mod *milter.Modifier) (milter.Response, error) {
	m.rec.add("rcpt", rcpt, mod.Macros)
	if rcpt == m.rejectRcpt {
		// 'y' is SMFIR_REPLYCODE: a full SMTP reply for this recipient only.
		return milter.NewResponseStr('y', "550 5.7.10 Encryption needed"), nil
	}
	return milter.RespContinue, nil
}

func (m *testMilter) Body(mod *milter.Modifier) (milter.Response, error) {
	m.rec.add("eom", "", mod.Macros)
	if err := mod.AddHeader("X-Postfixtest", "milter was here"); err != nil {
		return nil, err
	}
	return milter.RespContinue, nil
}
