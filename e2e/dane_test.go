package e2e

// Real deliveries through a sending Postfix that asks spamgate's TLS policy
// map (issue 13): DANE, MTA-STS and require_tls as Postfix then applies them.
//
// How the sending Postfix gets the test's DNS: Postfix's smtp resolves MX,
// A and TLSA records through the system resolver (res_search), which reads
// /etc/resolv.conf and has no port setting. The rig therefore
//   - runs unbound (the validating resolver, in front of danetest's signed
//     authoritative server) on port 53 of a loopback address of its own,
//     127.0.13.53;
//   - runs the sending Postfix's master in a private mount namespace
//     (postfixtest.Options.ResolvConf: unshare -m, then a bind mount over
//     /etc/resolv.conf, inherited by every smtp process), so the machine's
//     resolv.conf is untouched;
//   - says "options trust-ad" in that resolv.conf: glibc 2.31 and later clear
//     the AD bit of every answer otherwise, and Postfix would see no DNSSEC;
//   - sets dnssec_probe empty: Postfix's start-up probe asks for the root's
//     NS, which unbound cannot answer without the Internet.
// The receivers are small Go SMTP servers (STARTTLS or not, each with its
// own certificate) on 127.0.13.N, all on one port that smtp_tcp_port names;
// Postfix then looks TLSA up at _PORT._tcp.HOST, spamgate at _25._tcp.HOST
// (what it answers for real MX delivery), so the zone publishes both.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"spamgate/config"
	"spamgate/daemon"
	"spamgate/dane/danetest"
	"spamgate/internal/postfixtest"
)

// Loopback addresses of the rig (no other test uses 127.0.13.0/24).
const (
	daneResolverAddr = "127.0.13.53:53"
	danePolicyHost   = "127.0.13.44:443" // MTA-STS policy host (spamgate fetches from port 443)
)

const daneDeliveryConfig = `
[milter]
listen = "inet:127.0.0.1:0"
[dns]
nameservers = [%[1]q]
[tls_policy_map]
enabled = true
listen = "inet:127.0.0.1:0"
mta_sts = true
mta_sts_ca_file = %[2]q
dane = true
dnssec_nameservers = [%[3]q]
dnssec_timeout = "500ms"

[[policy.rule]]
recipient = "notls.sec.test"
require_tls = true

[[policy.rule]]
recipient = "wait.sec.test"
require_tls = true
`

// daneScenario is one recipient domain and its receiving MX.
type daneScenario struct {
	domain string // recipient domain; its MX is mx.DOMAIN at 127.0.13.<ip>
	ip     int
	tls    string // "self": STARTTLS with a self-signed certificate; "ca": one from the test CA for the wrong name; "": no STARTTLS
	tlsa   string // "match", "wrong" or "" (none)
	sts    bool   // publishes an MTA-STS enforce policy naming its MX
	signed bool   // in the signed zone sec.test (else plain.test)
}

var daneScenarios = []daneScenario{
	{domain: "match.sec.test", ip: 1, tls: "self", tlsa: "match", signed: true},
	{domain: "mismatch.sec.test", ip: 2, tls: "self", tlsa: "wrong", signed: true},
	{domain: "notls.sec.test", ip: 3, signed: true}, // require_tls rule
	{domain: "sts.sec.test", ip: 4, tls: "ca", sts: true, signed: true},
	{domain: "both.sec.test", ip: 5, tls: "self", tlsa: "match", sts: true, signed: true},
	{domain: "plain.test", ip: 6},
	{domain: "wait.sec.test", ip: 7, tls: "self", tlsa: "match", signed: true}, // require_tls rule
}

// TestDANEDeliveriesThroughPostfix: one rig, the issue's seven scenarios.
func TestDANEDeliveriesThroughPostfix(t *testing.T) {
	postfixtest.Require(t)
	ca := newTestCA(t)
	recv, port := startReceivers(t, ca)

	auth := danetest.StartAuth(t, daneZones(port, recv)...)
	ub := danetest.StartUnboundAt(t, auth, daneResolverAddr)
	// spamgate's validating resolver is a second unbound in front of the same
	// zones, so that scenario 7 can take it away while Postfix still resolves:
	// with one shared resolver, Postfix's own MX lookup fails first and it
	// defers before it asks the policy map (also seen, and kept, in 7).
	ubSpam := danetest.StartUnbound(t, auth)
	startDanePolicyHost(t, ca)

	spamLog := &logBuffer{}
	cfg, err := config.Parse("dane.toml", fmt.Appendf(nil, daneDeliveryConfig, daneResolverAddr, ca.file, ubSpam.Addr))
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Start(cfg, slog.New(slog.NewTextHandler(spamLog, &slog.HandlerOptions{Level: slog.LevelDebug})), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) })

	resolvConf := filepath.Join(ca.dir, "resolv.conf")
	host, _, _ := strings.Cut(daneResolverAddr, ":")
	writeFile(t, resolvConf, "nameserver "+host+"\noptions trust-ad timeout:1 attempts:1\n")
	sender := postfixtest.Start(t, postfixtest.Options{ResolvConf: resolvConf, MainCF: map[string]string{
		"default_transport":      "smtp",
		"relay_transport":        "smtp",
		"smtp_dns_support_level": "dnssec",
		"dnssec_probe":           "",
		"smtp_tcp_port":          strconv.Itoa(port),
		"smtp_tls_policy_maps":   "socketmap:inet:" + d.TLSPolicyMapAddr().String() + ":tlspolicy",
		// Postfix's own level for a NOTFOUND answer: dane, as the README
		// advises. With "may", a NOTFOUND given while spamgate's resolver was
		// down sent scenario 2's mail to the MX whose TLSA does not match
		// (seen in this test's first version); with "dane" Postfix checks
		// the TLSA records itself and defers it.
		"smtp_tls_security_level": "dane",
		"smtp_tls_CAfile":         ca.file,
		"smtp_tls_loglevel":       "1",
		// One delivery per smtp process: no policy or connection cached across the
		// resolver's stop and start.
		"max_use": "1",
	}})
	defer func() {
		if t.Failed() {
			t.Logf("spamgate log:\n%s\nunbound logs:\n%s\n%s", spamLog.String(), ub.Log(), ubSpam.Log())
		}
	}()
	submit := func(t *testing.T, domain string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tr, err := postfixtest.Send(ctx, sender.SMTPAddr, postfixtest.Mail{Helo: "client.test", From: "a@out.test",
			To: []string{"customer@" + domain}, Data: []byte("Subject: to " + domain + "\r\n\r\nconfidential\r\n")})
		if err != nil || tr.Message.Code != 250 {
			t.Fatalf("submission to %s: %v\n%s", domain, err, tr)
		}
		return tr.QueueID()
	}
	status := func(domain, st string) func() bool {
		return func() bool {
			return len(logLines(sender.Log(), "to=<customer@"+domain+">", "status="+st)) > 0
		}
	}
	// showLog is the closing note's evidence: Postfix's lines about the domain
	// and its MX, and spamgate's answer.
	showLog := func(t *testing.T, domain string) {
		t.Helper()
		var lines []string
		for _, l := range logLines(sender.Log(), domain) {
			if strings.Contains(l, "<customer@"+domain+">") || strings.Contains(l, "mx."+domain+"[") || strings.Contains(l, `"`+domain+`"`) {
				lines = append(lines, l)
			}
		}
		lines = append(lines, logLines(spamLog.String(), "tls policy", "nexthop="+domain+" ")...)
		t.Logf("%s:\n%s", domain, strings.Join(lines, "\n"))
	}
	answered := func(t *testing.T, domain, source string) {
		t.Helper()
		if len(logLines(spamLog.String(), "nexthop="+domain+" ", "source="+source)) == 0 {
			t.Errorf("%s: spamgate did not answer from %s:\n%s", domain, source, spamLog.String())
		}
	}

	for _, s := range daneScenarios[:6] {
		submit(t, s.domain)
	}
	byDomain := map[string]*receiver{}
	for i, s := range daneScenarios {
		byDomain[s.domain] = recv[i]
	}
	delivered := func(t *testing.T, domain, tlsLine string) {
		t.Helper()
		waitFor(t, 20*time.Second, status(domain, "sent"), domain+" delivered")
		if tlsLine != "" && len(logLines(sender.Log(), tlsLine+" TLS connection established to mx."+domain)) == 0 {
			t.Errorf("%s: no %q TLS line", domain, tlsLine)
		}
		if got := byDomain[domain].mails(); len(got) != 1 {
			t.Errorf("%s: receiver got %d mails, want 1", domain, len(got))
		}
	}
	neverDelivered := func(t *testing.T, domain, reason string) {
		t.Helper()
		waitFor(t, 20*time.Second, status(domain, "deferred"), domain+" deferred")
		if reason != "" && len(logLines(sender.Log(), "to=<customer@"+domain+">", reason)) == 0 {
			t.Errorf("%s: deferred, but not for %q", domain, reason)
		}
		if got := byDomain[domain].mails(); len(got) != 0 {
			t.Errorf("%s: receiver got %d mails, want none: %+v", domain, len(got), got)
		}
	}

	t.Run("1 TLSA matches: delivered, verified", func(t *testing.T) {
		delivered(t, "match.sec.test", "Verified")
		answered(t, "match.sec.test", "dane")
		showLog(t, "match.sec.test")
	})
	t.Run("2 TLSA does not match: deferred", func(t *testing.T) {
		neverDelivered(t, "mismatch.sec.test", "")
		answered(t, "mismatch.sec.test", "dane")
		showLog(t, "mismatch.sec.test")
	})
	t.Run("3 require_tls, no STARTTLS: deferred, never in cleartext", func(t *testing.T) {
		neverDelivered(t, "notls.sec.test", "TLS is required, but was not offered")
		answered(t, "notls.sec.test", "rule-require-tls")
		showLog(t, "notls.sec.test")
	})
	t.Run("4 MTA-STS enforce, certificate does not match: deferred", func(t *testing.T) {
		neverDelivered(t, "sts.sec.test", "")
		answered(t, "sts.sec.test", "mta-sts")
		showLog(t, "sts.sec.test")
	})
	t.Run("5 DANE and MTA-STS: DANE", func(t *testing.T) {
		// The certificate is self-signed: only DANE can accept it.
		delivered(t, "both.sec.test", "Verified")
		answered(t, "both.sec.test", "dane")
		showLog(t, "both.sec.test")
	})
	t.Run("6 nothing published: NOTFOUND, Postfix's default", func(t *testing.T) {
		delivered(t, "plain.test", "") // no STARTTLS offered: may delivers in cleartext
		answered(t, "plain.test", "notfound")
		showLog(t, "plain.test")
	})
	t.Run("7 resolver stopped: TEMP, queued, then delivered", func(t *testing.T) {
		const domain = "wait.sec.test"
		deferrals := func(n int) func() bool {
			return func() bool { return len(logLines(sender.Log(), "to=<customer@"+domain+">", "status=deferred")) >= n }
		}
		// Both resolvers down: Postfix's own MX lookup fails (4.4.3), it never
		// gets as far as the policy map.
		ub.Stop()
		ubSpam.Stop()
		id := submit(t, domain)
		waitFor(t, 20*time.Second, deferrals(1), domain+" deferred")
		// Postfix resolves again, spamgate's validating resolver is still down:
		// the map answers TEMP for this require_tls domain, Postfix defers.
		ub.Start()
		if err := sender.Flush(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, func() bool {
			return len(logLines(spamLog.String(), "nexthop="+domain, "source=temp")) > 0 && deferrals(2)()
		}, domain+" deferred after a TEMP answer")
		queued, err := sender.Queued()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(queued, " "), id) {
			t.Errorf("%s not in the queue %v", id, queued)
		}
		if got := byDomain[domain].mails(); len(got) != 0 {
			t.Fatalf("delivered while the validating resolver was down: %+v", got)
		}
		ubSpam.Start()
		if err := sender.Flush(); err != nil {
			t.Fatal(err)
		}
		delivered(t, domain, "Verified")
		answered(t, domain, "dane")
		showLog(t, domain)
	})
	// The flush during spamgate's resolver outage retried scenario 2's mail
	// too: spamgate, unable to see its TLSA records, answered NOTFOUND, and
	// Postfix's own dane level (smtp_tls_security_level) still refused the MX.
	if lines := logLines(spamLog.String(), "tls policy", "nexthop=mismatch.sec.test ", "source=notfound"); len(lines) > 0 {
		t.Logf("scenario 2 during the outage:\n%s\n%s", strings.Join(lines, "\n"),
			strings.Join(logLines(sender.Log(), "<customer@mismatch.sec.test>"), "\n"))
	}
	// Last, after every retry the resolver's stop and start caused.
	for _, domain := range []string{"mismatch.sec.test", "notls.sec.test", "sts.sec.test"} {
		if got := byDomain[domain].mails(); len(got) != 0 {
			t.Errorf("%s: delivered in the end (%d mails)", domain, len(got))
		}
	}
	if bad := logLines(spamLog.String(), "dane lookup failed", "domain=."); len(bad) > 0 {
		t.Errorf("DANE lookups of Postfix's parent-domain keys:\n%s", strings.Join(bad, "\n"))
	}
	for _, r := range recv {
		for _, m := range r.mails() {
			if !m.tls {
				if r.name != "mx.plain.test" {
					t.Errorf("%s received mail in cleartext: %+v", r.name, m)
				}
			}
		}
	}
}

// daneZones: sec.test signed (unbound's trust anchor), plain.test not.
func daneZones(port int, recv []*receiver) []*danetest.Zone {
	secure := &danetest.Zone{Origin: "sec.test.", Signed: true}
	plain := &danetest.Zone{Origin: "plain.test."}
	for i, s := range daneScenarios {
		z := plain
		if s.signed {
			z = secure
		}
		mx := "mx." + s.domain + "."
		z.RRs = append(z.RRs, s.domain+". 300 IN MX 10 "+mx, fmt.Sprintf("%s 300 IN A 127.0.13.%d", mx, s.ip))
		if s.tlsa != "" {
			hash := recv[i].spki
			if s.tlsa == "wrong" {
				hash = strings.Repeat("ab", 32)
			}
			for _, p := range []int{25, port} {
				z.RRs = append(z.RRs, fmt.Sprintf("_%d._tcp.%s 300 IN TLSA 3 1 1 %s", p, mx, hash))
			}
		}
		if s.sts {
			z.RRs = append(z.RRs, "_mta-sts."+s.domain+`. 300 IN TXT "v=STSv1; id=20261207"`,
				"mta-sts."+s.domain+". 300 IN A 127.0.13.44")
		}
	}
	return []*danetest.Zone{secure, plain}
}

// startDanePolicyHost serves the MTA-STS policies (enforce, the MX by name)
// of the scenarios that publish one.
func startDanePolicyHost(t *testing.T, ca *testCA) {
	t.Helper()
	policies := map[string]string{}
	var names []string
	for _, s := range daneScenarios {
		if s.sts {
			names = append(names, "mta-sts."+s.domain)
			policies["mta-sts."+s.domain] = "version: STSv1\r\nmode: enforce\r\nmx: mx." + s.domain + "\r\nmax_age: 86400\r\n"
		}
	}
	ln, err := net.Listen("tcp", danePolicyHost)
	if err != nil {
		t.Fatalf("listen on %s (the test needs root): %v", danePolicyHost, err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := policies[r.Host]
			if !ok || r.URL.Path != "/.well-known/mta-sts.txt" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte(p))
		}),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{ca.issue(t, names...)}},
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { srv.Close() })
}

// testCA issues the MTA-STS policy host's certificate and the one of the
// MTA-STS scenario's MX (for a name that is not the MX's).
type testCA struct {
	dir, file string // file: the CA certificate (PEM), readable by Postfix's smtp
	cert      *x509.Certificate
	key       *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	// Not t.TempDir (0700, root's): Postfix's smtp runs as postfix and reads the CA file.
	dir, err := os.MkdirTemp("", "dane-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "spamgate dane e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{dir: dir, file: filepath.Join(dir, "ca.pem"), cert: cert, key: key}
	writeFile(t, ca.file, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	return ca
}

// issue makes a server certificate for names, signed by the CA (nil ca:
// self-signed).
func (ca *testCA) issue(t *testing.T, names ...string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// receiver is a receiving MX: a minimal SMTP server, with STARTTLS when it
// has a certificate, that records what it was given and whether over TLS.
type receiver struct {
	name string // mx.DOMAIN, its greeting
	spki string // hex SHA-256 of its certificate's SubjectPublicKeyInfo (TLSA 3 1 1)
	conf *tls.Config
	ln   net.Listener

	mu       sync.Mutex
	received []receivedMail
}

type receivedMail struct {
	from string
	tls  bool
}

func (r *receiver) mails() []receivedMail {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedMail(nil), r.received...)
}

// startReceivers starts one receiver per scenario on 127.0.13.N, all on
// one port (drawn below the ephemeral range, retried when taken).
func startReceivers(t *testing.T, ca *testCA) ([]*receiver, int) {
	t.Helper()
	var recv []*receiver
	for _, s := range daneScenarios {
		r := &receiver{name: "mx." + s.domain}
		switch s.tls {
		case "self":
			c := (*testCA)(nil).issue(t, r.name)
			r.conf = &tls.Config{Certificates: []tls.Certificate{c}}
			sum := sha256.Sum256(c.Leaf.RawSubjectPublicKeyInfo)
			r.spki = hex.EncodeToString(sum[:])
		case "ca":
			r.conf = &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "not-the-mx.example")}}
		}
		recv = append(recv, r)
	}
	for attempt := 0; attempt < 20; attempt++ {
		port := 20000 + int(time.Now().UnixNano()%12000)
		if listenAll(recv, port) == nil {
			for _, r := range recv {
				go r.serve()
				t.Cleanup(func() { r.ln.Close() })
			}
			return recv, port
		}
	}
	t.Fatal("no port free on every receiver address")
	return nil, 0
}

func listenAll(recv []*receiver, port int) error {
	for i, r := range recv {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.13.%d:%d", daneScenarios[i].ip, port))
		if err != nil {
			for _, o := range recv[:i] {
				o.ln.Close()
			}
			return err
		}
		r.ln = ln
	}
	return nil
}

func (r *receiver) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		go r.session(c)
	}
}

// session speaks just enough SMTP for Postfix's smtp client.
func (r *receiver) session(c net.Conn) {
	defer func() { c.Close() }()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	br, onTLS := bufio.NewReader(c), false
	reply := func(s string) { _, _ = fmt.Fprintf(c, "%s\r\n", s) }
	reply("220 " + r.name + " ESMTP test receiver")
	var from string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " ")
		switch verb {
		case "EHLO", "HELO":
			if r.conf != nil && !onTLS {
				reply("250-" + r.name)
				reply("250 STARTTLS")
			} else {
				reply("250 " + r.name)
			}
		case "STARTTLS":
			if r.conf == nil || onTLS {
				reply("502 5.5.1 no")
				continue
			}
			reply("220 2.0.0 go ahead")
			tc := tls.Server(c, r.conf)
			if tc.Handshake() != nil {
				return // the client refused our certificate
			}
			c, br, onTLS = tc, bufio.NewReader(tc), true
		case "MAIL":
			_, from, _ = strings.Cut(strings.TrimSpace(line), ":")
			reply("250 2.1.0 ok")
		case "RCPT", "RSET", "NOOP":
			reply("250 2.0.0 ok")
		case "DATA":
			reply("354 go on")
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
			}
			r.mu.Lock()
			r.received = append(r.received, receivedMail{from: from, tls: onTLS})
			r.mu.Unlock()
			reply("250 2.0.0 queued")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("502 5.5.2 unknown command")
		}
	}
}

// logLines returns the lines of log that contain every one of subs.
func logLines(log string, subs ...string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		all := l != ""
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

// waitFor polls cond (Postfix logs through postlogd, asynchronously) until
// it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
