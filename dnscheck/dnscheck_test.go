package dnscheck

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"spamgate/config"
	"spamgate/dkim"
	"spamgate/dnsx"
	"spamgate/dnsx/dnstest"
)

var sendIP = netip.MustParseAddr("192.0.2.25")

// testKey generates a key, writes it 0600 as LoadKey demands, and returns
// its config entry and the key record it should publish.
func testKey(t *testing.T, algo, domain, selector string) (config.DKIMKey, crypto.Signer, string) {
	t.Helper()
	signer, pemKey, err := dkim.GenerateKey(algo)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), selector+".pem")
	if err := os.WriteFile(file, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := dkim.DNSRecord(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	return config.DKIMKey{Domain: domain, Selector: selector, File: file}, signer, rec
}

// txt writes a TXT value as zone-file strings of at most 255 bytes: an
// RSA-2048 key record does not fit in one.
func txt(s string) string {
	var parts []string
	for len(s) > 0 {
		n := min(len(s), 255)
		parts = append(parts, `"`+s[:n]+`"`)
		s = s[n:]
	}
	return strings.Join(parts, " ")
}

// fixture is a well-configured good.test, line by line so that a case can
// drop what it breaks.
type fixture struct {
	keys  []config.DKIMKey
	lines []string
	other string // an ed25519 record that is not ours
	rsa   *rsa.PublicKey
	edRec string
}

func newFixture(t *testing.T) fixture {
	edKey, _, edRec := testKey(t, "ed25519", "good.test", "ed")
	rsaKey, rsaSigner, rsaRec := testKey(t, "rsa", "GOOD.test.", "rsa") // case and dot as an admin may write them
	otherKey, _, otherRec := testKey(t, "ed25519", "other.test", "ed")  // another domain: no row
	return fixture{
		keys:  []config.DKIMKey{edKey, rsaKey, otherKey},
		other: otherRec,
		rsa:   rsaSigner.Public().(*rsa.PublicKey),
		edRec: edRec,
		lines: []string{
			`good.test. 300 IN TXT "v=spf1 ip4:192.0.2.25 -all"`,
			`good.test. 300 IN TXT "site-verification=abc"`, // not SPF: ignored
			`good.test. 300 IN MX 10 mail.good.test.`,
			`mail.good.test. 300 IN A 192.0.2.25`,
			`25.2.0.192.in-addr.arpa. 300 IN PTR mail.good.test.`,
			`_dmarc.good.test. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@good.test"`,
			`ed._domainkey.good.test. 300 IN TXT ` + txt(edRec),
			`rsa._domainkey.good.test. 300 IN TXT ` + txt(rsaRec),
		},
	}
}

// zone is the fixture without the lines starting with one of drop, plus add.
func (f fixture) zone(t *testing.T, drop []string, add []string) *dnstest.Zone {
	t.Helper()
	var keep []string
	for _, l := range f.lines {
		if !hasAnyPrefix(l, drop) {
			keep = append(keep, l)
		}
	}
	z := dnstest.NewZone()
	if err := z.AddText(strings.Join(append(keep, add...), "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
	return z
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func resolver(t *testing.T, srv *dnstest.Server) *dnsx.Resolver {
	t.Helper()
	r, err := dnsx.New(dnsx.Config{Nameservers: []string{srv.Addr}, Timeout: time.Second, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type servFail struct {
	name  string
	qtype uint16
}

func TestRun(t *testing.T) {
	f := newFixture(t)
	// Our ed25519 record with an extra tag and folding space inside p=.
	spaced := strings.Replace(f.edRec, "p=", "t=s; p= ", 1)
	spaced = spaced[:len(spaced)-20] + " " + spaced[len(spaced)-20:]
	pkcs1 := "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(f.rsa))
	const (
		spfTXT  = "good.test. 300 IN TXT"
		spfRec  = `good.test. 300 IN TXT "v=spf1`
		dmarcRR = "_dmarc.good.test."
		edRR    = "ed._domainkey.good.test."
		rsaRR   = "rsa._domainkey.good.test."
	)
	tests := []struct {
		name     string
		drop     []string
		add      []string
		servfail []servFail
		ip       netip.Addr
		check    string // the row the case is about; every other row must pass
		status   string
		detail   string // substring of that row's Detail
	}{
		{name: "good", ip: sendIP, check: "SPF", status: Pass, detail: "v=spf1 ip4:192.0.2.25 -all"},
		{name: "good DMARC detail", ip: sendIP, check: "DMARC", status: Pass, detail: "p=reject rua=mailto:dmarc@good.test"},
		{name: "good MX detail", ip: sendIP, check: "MX", status: Pass, detail: "10 mail.good.test."},
		{name: "good PTR detail", ip: sendIP, check: "PTR 192.0.2.25", status: Pass, detail: "mail.good.test., which resolves back"},
		{name: "good DKIM detail", ip: sendIP, check: "DKIM rsa", status: Pass, detail: "(k=rsa)"},
		{name: "IPv4-mapped IP", ip: netip.MustParseAddr("::ffff:192.0.2.25"), check: "PTR 192.0.2.25", status: Pass},

		{name: "no SPF", drop: []string{spfRec}, ip: sendIP,
			check: "SPF", status: Fail, detail: "no SPF record"},
		{name: "no TXT at all", drop: []string{spfTXT}, ip: sendIP,
			check: "SPF", status: Fail, detail: "no SPF record"},
		{name: "two SPF records", add: []string{spfTXT + ` "v=spf1 mx -all"`}, ip: sendIP,
			check: "SPF", status: Fail, detail: "2 SPF records"},
		{name: "SPF syntax error", drop: []string{spfRec}, add: []string{spfTXT + ` "v=spf1 ip4:192.0.2.300 -all"`}, ip: sendIP,
			check: "SPF", status: Fail, detail: "does not parse"},
		{name: "spf1x is not SPF", drop: []string{spfRec}, add: []string{spfTXT + ` "v=spf10 -all"`}, ip: sendIP,
			check: "SPF", status: Fail, detail: "no SPF record"},

		{name: "DMARC without rua", drop: []string{dmarcRR}, add: []string{dmarcRR + ` 300 IN TXT "v=DMARC1; p=quarantine"`}, ip: sendIP,
			check: "DMARC", status: Warn, detail: "p=quarantine without rua="},
		{name: "no DMARC", drop: []string{dmarcRR}, ip: sendIP,
			check: "DMARC", status: Fail, detail: "no DMARC record at _dmarc.good.test"},
		{name: "two DMARC records", add: []string{dmarcRR + ` 300 IN TXT "v=DMARC1; p=none; rua=mailto:x@good.test"`}, ip: sendIP,
			check: "DMARC", status: Fail, detail: "2 DMARC records"},
		{name: "invalid DMARC", drop: []string{dmarcRR}, add: []string{dmarcRR + ` 300 IN TXT "v=DMARC1; p=bogus"`}, ip: sendIP,
			check: "DMARC", status: Fail, detail: "p=bogus"},
		{name: "not DMARC1", drop: []string{dmarcRR}, add: []string{dmarcRR + ` 300 IN TXT "v=dmarc1; p=reject; rua=mailto:d@good.test"`}, ip: sendIP,
			check: "DMARC", status: Fail, detail: "no DMARC record"},

		{name: "DKIM key mismatch", drop: []string{edRR}, add: []string{edRR + " 300 IN TXT " + txt(f.other)}, ip: sendIP,
			check: "DKIM ed", status: Fail, detail: "is not our key"},
		{name: "DKIM record missing", drop: []string{edRR}, ip: sendIP,
			check: "DKIM ed", status: Fail, detail: "no key record at ed._domainkey.good.test; \"spamgate dkim dns"},
		{name: "DKIM key revoked", drop: []string{edRR}, add: []string{edRR + ` 300 IN TXT "v=DKIM1; k=ed25519; p="`}, ip: sendIP,
			check: "DKIM ed", status: Fail, detail: "revoked"},
		{name: "DKIM wrong k=", drop: []string{edRR}, add: []string{edRR + " 300 IN TXT " + txt(strings.Replace(f.edRec, "k=ed25519; ", "", 1))}, ip: sendIP,
			check: "DKIM ed", status: Fail, detail: "says k=rsa, our key is ed25519"},
		{name: "DKIM two records", add: []string{edRR + ` 300 IN TXT "v=DKIM1; p=AAAA"`}, ip: sendIP,
			check: "DKIM ed", status: Fail, detail: "2 TXT records"},
		{name: "DKIM p= with spaces and extra tags", drop: []string{edRR},
			add: []string{edRR + " 300 IN TXT " + txt(spaced)}, ip: sendIP,
			check: "DKIM ed", status: Pass},
		{name: "DKIM RSA as PKCS#1", drop: []string{rsaRR}, add: []string{rsaRR + " 300 IN TXT " + txt(pkcs1)}, ip: sendIP,
			check: "DKIM rsa", status: Pass},

		{name: "no MX", drop: []string{"good.test. 300 IN MX"}, ip: sendIP,
			check: "MX", status: Fail, detail: "no MX record"},
		{name: "null MX", drop: []string{"good.test. 300 IN MX"}, add: []string{"good.test. 300 IN MX 0 ."}, ip: sendIP,
			check: "MX", status: Fail, detail: "null MX"},

		{name: "no IP: PTR skipped", check: "PTR", status: Skip, detail: "-ip"},
		{name: "no PTR", drop: []string{"25.2.0.192"}, ip: sendIP,
			check: "PTR 192.0.2.25", status: Fail, detail: "no PTR record"},
		{name: "PTR not forward-confirmed", drop: []string{"mail.good.test."}, add: []string{"mail.good.test. 300 IN A 192.0.2.99"}, ip: sendIP,
			check: "PTR 192.0.2.25", status: Fail, detail: "does not resolve back to 192.0.2.25 (not forward-confirmed)"},
		{name: "PTR name without address", drop: []string{"mail.good.test."}, ip: sendIP,
			check: "PTR 192.0.2.25", status: Fail, detail: "not forward-confirmed"},

		{name: "SERVFAIL on SPF", drop: []string{spfTXT}, servfail: []servFail{{"good.test.", dns.TypeTXT}}, ip: sendIP,
			check: "SPF", status: Fail, detail: "temporary DNS failure on TXT good.test"},
		{name: "SERVFAIL on DKIM", drop: []string{edRR}, servfail: []servFail{{edRR, dns.TypeTXT}}, ip: sendIP,
			check: "DKIM ed", status: Fail, detail: "temporary DNS failure on TXT ed._domainkey.good.test"},
		{name: "SERVFAIL on DMARC", drop: []string{dmarcRR}, servfail: []servFail{{dmarcRR, dns.TypeTXT}}, ip: sendIP,
			check: "DMARC", status: Fail, detail: "temporary DNS failure"},
		{name: "SERVFAIL on MX", drop: []string{"good.test. 300 IN MX"}, servfail: []servFail{{"good.test.", dns.TypeMX}}, ip: sendIP,
			check: "MX", status: Fail, detail: "temporary DNS failure on MX good.test"},
		{name: "SERVFAIL on PTR", drop: []string{"25.2.0.192"}, servfail: []servFail{{"25.2.0.192.in-addr.arpa.", dns.TypePTR}}, ip: sendIP,
			check: "PTR 192.0.2.25", status: Fail, detail: "temporary DNS failure on PTR 192.0.2.25"},
		{name: "SERVFAIL on forward lookup", drop: []string{"mail.good.test."}, servfail: []servFail{{"mail.good.test.", dns.TypeA}}, ip: sendIP,
			check: "PTR 192.0.2.25", status: Fail, detail: "temporary DNS failure on A mail.good.test."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			z := f.zone(t, tc.drop, tc.add)
			for _, sf := range tc.servfail {
				z.ServFail(sf.name, sf.qtype)
			}
			rep := Run(context.Background(), resolver(t, dnstest.Start(t, z)), "good.test", f.keys, tc.ip)
			found := false
			for _, c := range rep.Checks {
				if c.Name != tc.check {
					if c.Status != Pass {
						t.Errorf("%s: %s %q, want pass", c.Name, c.Status, c.Detail)
					}
					continue
				}
				found = true
				if c.Status != tc.status || !strings.Contains(c.Detail, tc.detail) {
					t.Errorf("%s: %s %q, want %s containing %q", c.Name, c.Status, c.Detail, tc.status, tc.detail)
				}
			}
			if !found {
				t.Errorf("no %q row in %+v", tc.check, rep.Checks)
			}
			if want := tc.status != Fail; rep.OK() != want {
				t.Errorf("OK() = %v, want %v", rep.OK(), want)
			}
		})
	}
}

// The rows come in a fixed order, one per key of the domain, none for keys
// of other domains.
func TestRunRows(t *testing.T) {
	f := newFixture(t)
	rep := Run(context.Background(), resolver(t, dnstest.Start(t, f.zone(t, nil, nil))), "good.test.", f.keys, sendIP)
	var names []string
	for _, c := range rep.Checks {
		names = append(names, c.Name)
	}
	want := "SPF,DKIM ed,DKIM rsa,DMARC,MX,PTR 192.0.2.25"
	if got := strings.Join(names, ","); got != want || rep.Domain != "good.test" {
		t.Errorf("domain %q rows %s, want good.test %s", rep.Domain, got, want)
	}
}

func TestRunDKIMEdgeCases(t *testing.T) {
	f := newFixture(t)
	srv := dnstest.Start(t, f.zone(t, nil, nil))
	tests := []struct {
		name   string
		keys   []config.DKIMKey
		status string
		detail string
	}{
		{"no key for the domain", f.keys[2:], Skip, "no [[dkim.key]] configured for good.test"},
		{"unreadable key file", []config.DKIMKey{{Domain: "good.test", Selector: "ed", File: "/nonexistent.pem"}}, Fail, "cannot read our key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := Run(context.Background(), resolver(t, srv), "good.test", tc.keys, sendIP)
			c := rep.Checks[1]
			if !strings.HasPrefix(c.Name, "DKIM") || c.Status != tc.status || !strings.Contains(c.Detail, tc.detail) {
				t.Errorf("row %+v, want %s containing %q", c, tc.status, tc.detail)
			}
		})
	}
}

// A subdomain without its own record is covered by its parent's (RFC 9989
// tree walk), and the row says where the policy came from.
func TestDMARCInherited(t *testing.T) {
	f := newFixture(t)
	srv := dnstest.Start(t, f.zone(t, nil, nil))
	c := checkDMARC(context.Background(), resolver(t, srv), "news.mail.good.test")
	if c.Status != Pass || !strings.Contains(c.Detail, "(from _dmarc.good.test)") {
		t.Errorf("%+v", c)
	}
}

func TestWrite(t *testing.T) {
	rep := Report{Domain: "good.test", Checks: []Check{
		{"SPF", Pass, "v=spf1 -all"},
		{"DKIM selector1", Fail, "no key record"},
		{"PTR", Skip, "no sending IP given (-ip)"},
	}}
	var b bytes.Buffer
	rep.Write(&b)
	want := `DNS check of good.test

CHECK           STATUS  DETAIL
SPF             PASS    v=spf1 -all
DKIM selector1  FAIL    no key record
PTR             SKIP    no sending IP given (-ip)

result: FAIL (1 of 3 checks failed)
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	rep.Checks[1].Status = Warn
	b.Reset()
	rep.Write(&b)
	if !rep.OK() || !strings.HasSuffix(b.String(), "\nresult: pass\n") {
		t.Errorf("OK %v, output\n%s", rep.OK(), b.String())
	}
}
