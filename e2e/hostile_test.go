package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"

	"spamgate/config"
	"spamgate/daemon"
	"spamgate/dkim"
	"spamgate/dnsx/dnstest"
	"spamgate/internal/postfixtest"
)

// The hostile-message suite: messages built to make spamgate judge a
// different author than the one a mail client displays, or to make it give
// up (unfinished verification, thousands of header edits), sent through a
// real Postfix, since what counts is what Postfix actually hands to the
// milter. victim.test publishes p=reject and cannot send from loopback;
// attacker.test passes SPF for loopback and has no DMARC record; legit.test
// is p=reject and SPF-authorized (testdata/dns/hostile.zone). docs/HOSTILE.md
// ("Sender spoofing through Postfix") tabulates the rows.

// hostileConfig runs every check that judges a message's author; the DNSBL
// and greylisting are off (nothing to block on loopback), and the DKIM body
// limit is at its minimum so that the over-limit path costs 1 MiB, not 64.
const hostileConfig = `
[milter]
listen = "inet:127.0.0.1:0"
authserv_id = "mx.test"
internal_networks = []
[dns]
nameservers = ["%s"]
[greylist]
mode = "never"
[dnsbl]
enabled = false
[dkim]
max_body_bytes = 1048576
[score]
kill_level = 50
`

// hostileRig is one DNS server, spamgate and Postfix for every row.
type hostileRig struct {
	*world
	key    ed25519.PrivateKey       // selector e2e of victim.test and legit.test
	times  map[string]time.Duration // each row's send, by row name
	scores map[string]float64
	row    string // the row running
	dns    *dnstest.Server
	before int64 // the DNS server's query count when the row started
}

func startHostileRig(t *testing.T) *hostileRig {
	t.Helper()
	z, err := dnstest.LoadZoneFile("../testdata/dns/hostile.zone", "test.")
	if err != nil {
		t.Fatal(err)
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	record, err := dkim.DNSRecord(pub)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"victim.test.", "legit.test."} {
		z.Add(&dns.TXT{Hdr: dns.RR_Header{Name: "e2e._domainkey." + d, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300},
			Txt: []string{record}})
	}
	// A key lookup that fails: DKIM temperror for a p=reject domain.
	z.ServFail("tempfail._domainkey.victim.test.", dns.TypeTXT)
	srv := dnstest.Start(t, z)

	cfg, err := config.Parse("hostile.toml", fmt.Appendf(nil, hostileConfig, srv.Addr))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	d, err := daemon.Start(cfg, slog.New(slog.NewTextHandler(logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.Shutdown(ctx)
		if t.Failed() {
			t.Logf("spamgate log (last 20000 bytes):\n%s", tail(logs.String(), 20000))
		}
	})
	sink := postfixtest.StartSink(t)
	pf := postfixtest.Start(t, postfixtest.Options{
		Milter: "inet:" + d.Addr().String(),
		Relay:  sink.Addr,
		MainCF: map[string]string{
			"milter_default_action":  "tempfail",
			"milter_protocol":        "6",
			"milter_command_timeout": "30s",
		},
	})
	return &hostileRig{world: &world{zone: z, postfix: pf, sink: sink, log: logs}, key: key,
		times: map[string]time.Duration{}, scores: map[string]float64{}, dns: srv}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// hostileRow is one SMTP transaction and what must come of it.
type hostileRow struct {
	name     string
	mailFrom string // envelope sender without the angle brackets
	helo     string // "" = client.legit.test
	data     string // header and body, CRLF line ends
	build    func(r *hostileRig) []byte
	rcpt     string // expected RCPT reply start ("550 5.1.8"); "" = accepted
	code     int    // expected reply to the final dot
	enhanced string
	text     string   // a substring of that reply
	ar       []string // delivered: the methods of our A-R in order; nil = not checked
	arHas    []string // delivered: substrings of our A-R
	// check runs last, for refused rows too (then m is empty).
	check func(t *testing.T, r *hostileRig, tr postfixtest.Transcript, m postfixtest.Message)
}

// withBody ends a header section with To, Subject, the blank line and a body.
func withBody(header string) string {
	return header + "To: alice@example.net\r\nSubject: hostile\r\n\r\nBody.\r\n"
}

const dmarcRefusal = "Unauthenticated email from "

// refused is the DMARC refusal for domain.
func refused(name, mailFrom, data, domain string) hostileRow {
	return hostileRow{name: name, mailFrom: mailFrom, data: data, code: 550, enhanced: "5.7.1", text: dmarcRefusal + domain}
}

// refused550 is a 550 5.7.1 whose text the spec leaves open (several From
// fields, no From domain, too many header deletions); only the score's
// refusal is ruled out.
func refused550(name, mailFrom, data string) hostileRow {
	return hostileRow{name: name, mailFrom: mailFrom, data: data, code: 550, enhanced: "5.7.1"}
}

// delivered is a message that must arrive with our A-R judging domain's
// From: "dmarc=RESULT header.from=DOMAIN".
func delivered(name, mailFrom, data, dmarcResult, domain string, methods ...string) hostileRow {
	if len(methods) == 0 {
		methods = []string{"iprev", "spf", "dmarc"}
	}
	return hostileRow{name: name, mailFrom: mailFrom, data: data, code: 250, ar: methods,
		arHas: []string{"dmarc=" + dmarcResult + " header.from=" + domain}}
}

func TestHostileSenderSpoofing(t *testing.T) {
	r := startHostileRig(t)
	for _, row := range hostileRows() {
		if !t.Run(row.name, func(t *testing.T) { r.run(t, row) }) {
			// Keep going: every row is reported.
			continue
		}
	}
	log := r.postfix.Log()
	for _, bad := range []string{"too many reverse jump records", "signal 6", "panic:", "fatal:"} {
		if strings.Contains(log, bad) {
			t.Errorf("Postfix logged %q:\n%s", bad, tail(log, 8000))
		}
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "warning:") && strings.Contains(line, "milter") {
			t.Errorf("Postfix logged a milter warning: %s", line)
		}
	}
}

func hostileRows() []hostileRow {
	const atk, vic, leg = "x@attacker.test", "admin@victim.test", "a@legit.test"
	rows := []hostileRow{
		// Controls.
		delivered("control: SPF-aligned legit.test", leg, withBody("From: Legit <a@legit.test>\r\n"), "pass", "legit.test"),
		{name: "control: DKIM-aligned victim.test", mailFrom: atk, code: 250,
			build: func(r *hostileRig) []byte {
				return r.sign("victim.test", withBody("From: Admin <admin@victim.test>\r\nDate: Mon, 7 Dec 2026 12:00:00 +0000\r\n"))
			},
			ar: []string{"iprev", "spf", "dkim", "dmarc"}, arHas: []string{"dkim=pass header.d=victim.test", "dmarc=pass header.from=victim.test"}},
		withScore(delivered("control: attacker.test as itself", atk, withBody("From: X <x@attacker.test>\r\n"), "none", "attacker.test"), ""),
		refused("control: unauthenticated victim.test", atk, withBody("From: Admin <admin@victim.test>\r\n"), "victim.test"),
		{name: "control: nonexistent subdomain in MAIL FROM", mailFrom: "x@nx.victim.test", data: withBody("From: x@nx.victim.test\r\n"),
			rcpt: "550 5.1.8"},
		refused("nonexistent subdomain in From (np= falls back to p=reject)", atk, withBody("From: admin@nx.victim.test\r\n"), "nx.victim.test"),

		// Several From fields, in every spelling Postfix passes as a field of its own.
		refused550("two From fields", atk, withBody("From: x@attacker.test\r\nFrom: admin@victim.test\r\n")),
		refused550("two From fields, both authenticated", leg, withBody("From: a@legit.test\r\nFrom: b@legit.test\r\n")),
		refused550("From with whitespace before the colon", atk, withBody("From: x@attacker.test\r\nFrom : admin@victim.test\r\n")),
		refused550("FROM: and From<TAB>:", atk, withBody("FROM:x@attacker.test\r\nFrom\t: admin@victim.test\r\n")),
		refused550("folded display name", atk, withBody("From: \"Admin\r\n Team\" <admin@victim.test>\r\nFrom: x@attacker.test\r\n")),
		refused550("From after a folded field holding From:", atk,
			withBody("From: admin@victim.test\r\nReceived: from x\r\n\tFrom: y@attacker.test\r\nFrom:x@attacker.test\r\n")),
		refused("From value on a continuation line", atk, withBody("From:\r\n admin@victim.test\r\n"), "victim.test"),
		withScore(delivered("From: inside a continuation is part of Subject", atk,
			"Subject: hi\r\n From: admin@victim.test\r\nFrom: x@attacker.test\r\nTo: alice@example.net\r\n\r\nBody.\r\n", "none", "attacker.test"), ""),
		// Postfix ends the header at the first line that is not a field:
		// everything, From included, is body, and there is no From at all.
		// No author is displayed, so none is spoofed: DMARC records a
		// permerror and the message goes on (engine/author.go).
		noFrom("first line starts with whitespace: no header", " From: admin@victim.test\r\nFrom: x@attacker.test\r\n\r\nBody.\r\n"),
		noFrom("first line is not a field: no header", "X-Junk\r\nFrom: admin@victim.test\r\n\r\nBody.\r\n"),
		noFrom("no From field", "To: alice@example.net\r\nSubject: none\r\n\r\nBody.\r\n"),
		refused550("empty From", atk, withBody("From: \r\n")),
		refused550("From: undisclosed", atk, withBody("From: undisclosed\r\n")),
		refused550("From: group with no address", atk, withBody("From: undisclosed-recipients:;\r\n")),

		// Sender and Resent-From never stand in for From.
		refused("Sender and Resent-From of an SPF-authenticated domain", leg,
			withBody("Resent-From: a@legit.test\r\nSender: a@legit.test\r\nFrom: admin@victim.test\r\n"), "victim.test"),
		{name: "Sender of a DKIM-authenticated domain", mailFrom: atk, code: 550, enhanced: "5.7.1", text: dmarcRefusal + "victim.test",
			build: func(r *hostileRig) []byte {
				return r.sign("legit.test", withBody("Sender: a@legit.test\r\nFrom: admin@victim.test\r\n"))
			}},

		// Several addresses in one From: every domain, strictest wins.
		refused("victim first, attacker second", atk, withBody("From: admin@victim.test, x@attacker.test\r\n"), "victim.test"),
		refused("attacker first, victim second", atk, withBody("From: X <x@attacker.test>, Admin <admin@victim.test>\r\n"), "victim.test"),
		refused("legit authenticated, victim not", leg, withBody("From: a@legit.test, admin@victim.test\r\n"), "victim.test"),
		refused("group holding victim and attacker", atk, withBody("From: team: admin@victim.test, x@attacker.test;\r\n"), "victim.test"),
		{name: "legit authenticated and attacker (no policy)", mailFrom: leg, data: withBody("From: a@legit.test, x@attacker.test\r\n"),
			code: 250, arHas: []string{"header.from=legit.test"}},
		{name: "attacker and quarantine domain: quarantine wins", mailFrom: atk, data: withBody("From: x@attacker.test, q@quar.test\r\n"),
			code: 250, arHas: []string{"header.from=quar.test"},
			check: func(t *testing.T, r *hostileRig, tr postfixtest.Transcript, m postfixtest.Message) {
				if h, _, _ := strings.Cut(string(m.Raw), "\r\n\r\n"); !strings.Contains(h, "\r\nX-Spam-Flag: YES\r\n") {
					t.Errorf("p=quarantine among the From domains: no X-Spam-Flag: YES\n%s", h)
				}
			}},

		{name: "five author domains ([dmarc] max_from_domains)", mailFrom: leg, code: 250,
			data: withBody("From: " + authors(5) + "\r\n"), arHas: []string{"dmarc=pass header.from=legit.test"}},
		{name: "200 author domains: refused without 200 policy lookups", mailFrom: leg, code: 550, enhanced: "5.7.1",
			text: "too many author domains", data: withBody("From: " + authors(200) + "\r\n"),
			check: func(t *testing.T, r *hostileRig, _ postfixtest.Transcript, _ postfixtest.Message) {
				// max_from_domains + 1 domains are prefetched, a few
				// queries each; 200 would be hundreds.
				if n := r.dns.Queries() - r.before; n > 60 {
					t.Errorf("%d DNS queries for one message", n)
				} else {
					t.Logf("%d DNS queries", n)
				}
			}},

		// RFC 2047 encoded words: the address, never the decoded display
		// name, is the author; an encoded word inside an address is only
		// an odd local part.
		delivered("encoded display name spelling the victim", atk,
			withBody("From: =?utf-8?q?admin=40victim.test?= <x@attacker.test>\r\n"), "none", "attacker.test"),
		delivered("encoded display name spelling <victim>", atk,
			withBody("From: =?utf-8?b?PGFkbWluQHZpY3RpbS50ZXN0Pg==?= <x@attacker.test>\r\n"), "none", "attacker.test"),
		refused("encoded word as the local part", atk, withBody("From: <=?utf-8?q?admin?=@victim.test>\r\n"), "victim.test"),

		// Route portions, quoted local parts, comments, display names.
		refused("route portion", atk, withBody("From: <@attacker.test,@b.test:user@victim.test>\r\n"), "victim.test"),
		delivered("quoted local part holding the victim", atk, withBody("From: \"admin@victim.test\"@attacker.test\r\n"), "none", "attacker.test"),
		delivered("quoted display name <victim>", atk, withBody("From: \"<admin@victim.test>\" <x@attacker.test>\r\n"), "none", "attacker.test"),
		delivered("comment holding the victim", atk, withBody("From: x@attacker.test (admin@victim.test)\r\n"), "none", "attacker.test"),
		// Not RFC 5322 (an unquoted "@" in a display name), and clients
		// show the display name: both addresses are judged.
		refused("unquoted address as display name (malformed)", atk, withBody("From: admin@victim.test <x@attacker.test>\r\n"), "victim.test"),
		withScore(delivered("unclosed comment after the attacker (malformed: from_malformed points)", atk,
			withBody("From: X <x@attacker.test> (x\r\n"), "none", "attacker.test"), "control: attacker.test as itself"),
		refused("unclosed comment (malformed)", atk, withBody("From: admin@victim.test (x\r\n"), "victim.test"),
		refused("unclosed comment after angle address (malformed)", atk, withBody("From: Admin <admin@victim.test> (x\r\n"), "victim.test"),

		// NUL and control characters. Postfix hands header fields to the
		// milter as C strings: a NUL ends the value.
		refused("NUL after the victim's address", atk, withBody("From: admin@victim.test\x00x@attacker.test\r\n"), "victim.test"),
		{name: "NUL after the attacker's address", mailFrom: atk, data: withBody("From: x@attacker.test\x00admin@victim.test\r\n"),
			code: 250, ar: []string{"iprev", "spf", "dmarc"}, arHas: []string{"dmarc=none header.from=attacker.test"},
			check: func(t *testing.T, r *hostileRig, tr postfixtest.Transcript, m postfixtest.Message) {
				// What is delivered must be what was judged.
				if bytes.Contains(m.Raw, []byte("victim.test")) {
					t.Errorf("the part after the NUL reached the recipient, unjudged:\n%q", m.Raw)
				}
			}},
		refused("bare CR then a second From", atk, withBody("From: x@attacker.test\rFrom: admin@victim.test\r\n"), "victim.test"),
		refused("control characters between addresses", atk, withBody("From: x@attacker.test\x01\x7f\x1b[0m admin@victim.test\r\n"), "victim.test"),

		// SPF and DKIM identities with quotes, parentheses, semicolons:
		// A-R stays well-formed (every delivered row parses it).
		{name: "MAIL FROM with a quoted ; in the local part", mailFrom: `"a;b"@attacker.test`, data: withBody("From: x@attacker.test\r\n"),
			code: 250, ar: []string{"iprev", "spf", "dmarc"}, arHas: []string{"spf=pass"},
			check: wantProp("spf", "smtp.mailfrom", `"a;b"@attacker.test`)},
		{name: "MAIL FROM with quoted parentheses and =", mailFrom: `"a(b);c=d"@attacker.test`, data: withBody("From: x@attacker.test\r\n"),
			code: 250, ar: []string{"iprev", "spf", "dmarc"}, arHas: []string{"spf=pass"},
			check: wantProp("spf", "smtp.mailfrom", `"a(b);c=d"@attacker.test`)},
		delivered("DKIM d= and s= with quotes and parentheses", atk,
			withBody("DKIM-Signature: v=1; a=ed25519-sha256; d=vic\"tim(x).test; s=e2e\"x)y; h=From; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\nFrom: x@attacker.test\r\n"),
			"none", "attacker.test", "iprev", "spf", "dkim", "dmarc"),
		delivered("DKIM d= folded across lines", atk,
			withBody("DKIM-Signature: v=1; a=ed25519-sha256; d=vic\r\n tim.test; s=e2e; h=From; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\nFrom: x@attacker.test\r\n"),
			"none", "attacker.test", "iprev", "spf", "dkim", "dmarc"),

		// Empty and odd MAIL FROM forms.
		delivered("null sender, HELO identity aligned", "", withBody("From: a@legit.test\r\n"), "pass", "legit.test"),
		refused("null sender, From victim", "", withBody("From: admin@victim.test\r\n"), "victim.test"),
		{name: "MAIL FROM:< > (Postfix: null sender)", mailFrom: " ", data: withBody("From: x@attacker.test\r\n"), code: 250,
			ar: []string{"iprev", "spf", "dmarc"}},
		refused("MAIL FROM:< >, From victim", " ", withBody("From: admin@victim.test\r\n"), "victim.test"),
		delivered("source route in MAIL FROM", "@relay.test:x@attacker.test", withBody("From: x@attacker.test\r\n"), "none", "attacker.test"),
		refused("source route through the victim", "@victim.test,@relay.test:x@attacker.test", withBody("From: admin@victim.test\r\n"), "victim.test"),

		// A signature that was not verified never vouches.
		{name: "DKIM key lookup fails for a p=reject domain", mailFrom: atk, code: 451, enhanced: "4.7.5",
			data: withBody("DKIM-Signature: v=1; a=ed25519-sha256; c=simple/simple; d=victim.test; s=tempfail; h=From; bh=" +
				emptyBodyHash + "; b=" + fakeSig(0) + "\r\nFrom: admin@victim.test\r\n")},
		{name: "unfinished verification: 5 forged signatures, body over max_body_bytes", mailFrom: atk,
			code: 550, enhanced: "5.7.1", text: dmarcRefusal + "victim.test",
			build: func(*hostileRig) []byte { return forgedBigMessage(1<<20 + 100<<10) }},
		// Timed pair: the same 4 MB through the same path, one refused
		// after an unfinished verification, one legitimate and delivered.
		{name: "big legitimate message with aligned SPF", mailFrom: leg, code: 250,
			build: func(*hostileRig) []byte {
				return []byte("From: a@legit.test\r\nTo: alice@example.net\r\nSubject: big\r\n\r\n" + strings.Repeat("\r\n", 2<<20))
			},
			ar: []string{"iprev", "spf", "dmarc"}, arHas: []string{"spf=pass", "dmarc=pass header.from=legit.test"}},
		{name: "unfinished verification: 4 MB of empty lines", mailFrom: atk, code: 550, enhanced: "5.7.1", text: dmarcRefusal + "victim.test",
			build: func(*hostileRig) []byte { return forgedBigMessage(4 << 20) },
			check: notSlowerThan("big legitimate message with aligned SPF", 3)},

		// Header deletions: forged A-R with our authserv-id and incoming
		// X-Spam-* fields, up to [milter] max_header_deletions (32).
		{name: "5 forged A-R fields deleted", mailFrom: atk,
			data: withBody(strings.Repeat("Authentication-Results: mx.test; spf=pass smtp.mailfrom=forged@victim.test\r\n", 5) +
				"Authentication-Results: other.test; spf=fail\r\nFrom: x@attacker.test\r\n"),
			code: 250, ar: []string{"iprev", "spf", "dmarc"}, arHas: []string{"header.from=attacker.test"},
			check: func(t *testing.T, r *hostileRig, tr postfixtest.Transcript, m postfixtest.Message) {
				h, _, _ := strings.Cut(string(m.Raw), "\r\n\r\n")
				if strings.Contains(h, "forged@victim.test") || !strings.Contains(h, "Authentication-Results: other.test; spf=fail") {
					t.Errorf("forged fields kept or foreign one removed:\n%s", h)
				}
			}},
		{name: "32 deletions (the cap) all done", mailFrom: atk, data: withBody(deletions(16, 16) + "From: x@attacker.test\r\n"),
			code: 250, ar: []string{"iprev", "spf", "dmarc"},
			check: func(t *testing.T, r *hostileRig, tr postfixtest.Transcript, m postfixtest.Message) {
				h, _, _ := strings.Cut(string(m.Raw), "\r\n\r\n")
				if strings.Contains(h, "forged@victim.test") || strings.Contains(h, "X-Spam-Status: Yes, forged") {
					t.Errorf("forged fields kept:\n%s", h)
				}
			}},
		refused550("33 deletions: refused, no edits", atk, withBody(deletions(17, 16)+"From: x@attacker.test\r\n")),
		// Timed pair: 16,000 A-R fields (~600 KB), foreign ones delivered
		// untouched, ours refused without 16,000 delete requests.
		{name: "16000 foreign A-R fields", mailFrom: atk, code: 250,
			data: withBody(strings.Repeat("Authentication-Results: mx.other; spf=pass\r\n", 16000) + "From: x@attacker.test\r\n"),
			ar:   []string{"iprev", "spf", "dmarc"},
			check: func(t *testing.T, _ *hostileRig, _ postfixtest.Transcript, m postfixtest.Message) {
				if n := bytes.Count(m.Raw, []byte("Authentication-Results: mx.other; spf=pass\r\n")); n != 16000 {
					t.Errorf("%d of the 16000 foreign fields arrived", n)
				}
			}},
		{name: "16000 forged A-R fields", mailFrom: atk, code: 550, enhanced: "5.7.1",
			data:  withBody(strings.Repeat("Authentication-Results: mx.test; spf=pass\r\n", 16000) + "From: x@attacker.test\r\n"),
			check: notSlowerThan("16000 foreign A-R fields", 3)},
	}
	return rows
}

// noFrom is a message without a From field, delivered with DMARC's
// permerror; the client sees no author at all.
func noFrom(name, data string) hostileRow {
	return hostileRow{name: name, mailFrom: "x@attacker.test", data: data, code: 250, ar: []string{"iprev", "spf", "dmarc"},
		arHas: []string{`dmarc=permerror reason="no From field"`},
		check: func(t *testing.T, _ *hostileRig, _ postfixtest.Transcript, m postfixtest.Message) {
			if m.Header.Get("From") != "" {
				t.Errorf("a From field reached the recipient: %q", m.Header.Get("From"))
			}
		}}
}

// withScore records the row's X-Spam-Score under its name; with a
// reference row, the score must be above that row's (from_malformed).
func withScore(row hostileRow, higherThan string) hostileRow {
	prev := row.check
	row.check = func(t *testing.T, r *hostileRig, tr postfixtest.Transcript, m postfixtest.Message) {
		if prev != nil {
			prev(t, r, tr, m)
		}
		s, err := strconv.ParseFloat(strings.TrimSpace(m.Header.Get("X-Spam-Score")), 64)
		if err != nil {
			t.Errorf("X-Spam-Score: %v", err)
			return
		}
		r.scores[row.name] = s
		if ref, ok := r.scores[higherThan]; higherThan != "" && (!ok || s <= ref) {
			t.Errorf("score %v not above %v of %q: a malformed From adds no points", s, ref, higherThan)
		}
	}
	return row
}

// slowBound is what a timed row may always take.
const slowBound = 5 * time.Second

// notSlowerThan fails a row that took more than ratio times as long as the
// named earlier row (and more than slowBound).
func notSlowerThan(ref string, ratio float64) func(*testing.T, *hostileRig, postfixtest.Transcript, postfixtest.Message) {
	return func(t *testing.T, r *hostileRig, _ postfixtest.Transcript, _ postfixtest.Message) {
		base, ok := r.times[ref]
		if !ok {
			t.Fatalf("reference row %q did not run", ref)
		}
		got := r.times[r.row]
		t.Logf("%v, reference %q %v", got, ref, base)
		// Both sides vary by a factor of several from run to run on a
		// loaded machine (the sink's disk, -race): a row fails only when
		// it is over the ratio and over a generous bound as well.
		if float64(got) > ratio*float64(base) && got > slowBound {
			t.Errorf("took %v, over %v times the %v of %q and over %v", got, ratio, base, ref, slowBound)
		}
	}
}

// wantProp checks one property of one method in our A-R, unquoted.
func wantProp(method, prop, want string) func(*testing.T, *hostileRig, postfixtest.Transcript, postfixtest.Message) {
	return func(t *testing.T, r *hostileRig, _ postfixtest.Transcript, m postfixtest.Message) {
		ar, _ := ourAuthResults(t, m)
		_, res, err := parseAuthResults(ar)
		if err != nil {
			return // reported by the row
		}
		for _, e := range res {
			if e.method == method {
				if got := e.props[prop]; got != want {
					t.Errorf("%s %s = %q, want %q", method, prop, got, want)
				}
				return
			}
		}
		t.Errorf("no %s result", method)
	}
}

// authors is a From value of n addresses of n distinct domains, folded:
// legit.test, attacker.test, then subdomains of attacker.test.
func authors(n int) string {
	addrs := []string{"a@legit.test", "x@attacker.test"}
	for i := 2; i < n; i++ {
		addrs = append(addrs, fmt.Sprintf("x@d%d.attacker.test", i))
	}
	return strings.Join(addrs[:n], ",\r\n ")
}

// deletions is forged A-R fields and incoming X-Spam-* fields, both of
// which spamgate deletes.
func deletions(ar, spam int) string {
	var b strings.Builder
	for i := range ar {
		fmt.Fprintf(&b, "Authentication-Results: mx.test; spf=pass smtp.mailfrom=forged@victim.test (%d)\r\n", i)
	}
	for i := range spam {
		if i%2 == 0 {
			b.WriteString("X-Spam-Status: Yes, forged\r\n")
		} else {
			b.WriteString("X-Spam-Flag: NO\r\n")
		}
	}
	return b.String()
}

// emptyBodyHash is the c=simple body hash of a body of empty lines: they
// all canonicalize away to one CRLF.
var emptyBodyHash = func() string {
	h := sha256.Sum256([]byte("\r\n"))
	return base64.StdEncoding.EncodeToString(h[:])
}()

// fakeSig is a well-formed ed25519 signature value that verifies nothing.
func fakeSig(i int) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{byte(i + 1)}, ed25519.SignatureSize))
}

// forgedBigMessage is the unfinished-verification attack: From the victim,
// five DKIM-Signature fields of the victim (real key, correct body hash,
// wrong b=) over a body of size bytes of empty lines.
func forgedBigMessage(size int) []byte {
	var b bytes.Buffer
	for i := range 5 {
		fmt.Fprintf(&b, "DKIM-Signature: v=1; a=ed25519-sha256; c=simple/simple; d=victim.test; s=e2e; h=From:Subject; bh=%s; b=%s\r\n",
			emptyBodyHash, fakeSig(i))
	}
	b.WriteString("From: Admin <admin@victim.test>\r\nTo: alice@example.net\r\nSubject: unfinished\r\n\r\n")
	b.Write(bytes.Repeat([]byte("\r\n"), size/2))
	return b.Bytes()
}

// sign DKIM-signs msg for domain with the rig's key (selector e2e).
func (r *hostileRig) sign(domain, msg string) []byte {
	var out bytes.Buffer
	err := msgdkim.Sign(&out, strings.NewReader(msg), &msgdkim.SignOptions{Domain: domain, Selector: "e2e", Signer: r.key,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Sender"}})
	if err != nil {
		panic(err) // the test's own message: cannot happen
	}
	return out.Bytes()
}

// run sends one row's message and checks the outcome.
func (r *hostileRig) run(t *testing.T, row hostileRow) {
	data := []byte(row.data)
	if row.build != nil {
		data = row.build(r)
	}
	helo := row.helo
	if helo == "" {
		helo = "client.legit.test"
	}
	r.row, r.before = row.name, r.dns.Queries()
	start := time.Now()
	tr := r.send(t, postfixtest.Mail{Helo: helo, From: row.mailFrom, To: []string{"alice@example.net"}, Data: data})
	r.times[row.name] = time.Since(start)
	t.Logf("reply: %v", tr.Message)
	if row.rcpt != "" {
		if len(tr.Rcpt) != 1 || !strings.HasPrefix(tr.Rcpt[0].String(), row.rcpt) {
			t.Errorf("RCPT: got %v, want %s\n%s", tr.Rcpt, row.rcpt, tr)
		}
		return
	}
	got := tr.Message
	if got.Code != row.code || (row.enhanced != "" && got.Enhanced != row.enhanced) || !strings.Contains(got.Text, row.text) {
		t.Errorf("end of data: got %q, want %d %s …%s…\n%s", got, row.code, row.enhanced, row.text, tr)
		if got.Code != 250 {
			return
		}
	}
	if row.code == 550 && strings.Contains(got.Text, "as spam") {
		t.Errorf("refused by the spam score, not by the author check: %v", got)
	}
	if got.Code != 250 {
		if row.check != nil {
			row.check(t, r, tr, postfixtest.Message{}) // nothing was delivered
		}
		return
	}
	m := r.waitQueued(t, tr.QueueID())
	ar, ok := ourAuthResults(t, m)
	if !ok {
		return
	}
	t.Logf("A-R: %q", ar)
	id, res, err := parseAuthResults(ar)
	if err != nil {
		t.Errorf("our Authentication-Results is malformed: %v\n%q", err, ar)
		return
	}
	if id != "mx.test" {
		t.Errorf("authserv-id %q", id)
	}
	if row.ar != nil {
		methods := make([]string, len(res))
		for i, e := range res {
			methods[i] = e.method
		}
		if strings.Join(methods, " ") != strings.Join(row.ar, " ") {
			t.Errorf("A-R methods %v, want %v\n%s", methods, row.ar, ar)
		}
	}
	for _, want := range row.arHas {
		if !strings.Contains(ar, want) {
			t.Errorf("A-R lacks %q:\n%s", want, ar)
		}
	}
	if row.check != nil {
		row.check(t, r, tr, m)
	}
}

// waitQueued returns the message that Postfix queued as id, once the sink
// has it (Postfix's Received field carries the queue id).
func (r *hostileRig) waitQueued(t *testing.T, id string) postfixtest.Message {
	t.Helper()
	if id == "" {
		t.Fatalf("no queue id")
	}
	needle := []byte(" id " + id + "\r\n")
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, m := range r.sink.Messages(t) {
			if bytes.Contains(m.Raw, needle) {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s never reached the sink", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ourAuthResults returns the value of the one A-R field of mx.test, with
// its folds; it fails the test when there is not exactly one, or when the
// field holds a line break that is not a fold.
func ourAuthResults(t *testing.T, m postfixtest.Message) (string, bool) {
	t.Helper()
	header, _, _ := strings.Cut(string(m.Raw), "\r\n\r\n")
	var ours []string
	for _, f := range headerFields(header) {
		name, value, _ := strings.Cut(f, ":")
		if !strings.EqualFold(name, "Authentication-Results") {
			continue
		}
		if id, _, err := parseAuthResults(value); (err == nil && id == "mx.test") || strings.HasPrefix(strings.TrimSpace(value), "mx.test") {
			ours = append(ours, value)
		}
	}
	if len(ours) != 1 {
		t.Errorf("%d Authentication-Results fields of mx.test, want 1:\n%s", len(ours), header)
		return "", false
	}
	return ours[0], true
}

// headerFields splits a header section into fields, folds kept.
func headerFields(header string) []string {
	var fields []string
	for _, line := range strings.Split(header, "\r\n") {
		if (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && len(fields) > 0 {
			fields[len(fields)-1] += "\r\n" + line
			continue
		}
		fields = append(fields, line)
	}
	return fields
}

// arResult is one resinfo of an Authentication-Results field.
type arResult struct {
	method, result string
	props          map[string]string // "reason", "smtp.mailfrom", …, values unquoted
}

// The properties spamgate may write; anything else is an injection.
var arProps = regexp.MustCompile(`^(reason|smtp\.(mailfrom|helo)|header\.(from|d|s|a|b|i)|policy\.(dmarc|iprev))$`)

// parseAuthResults parses an A-R value (RFC 8601 section 2.2) strictly:
// CFWS with nested comments, folds only as CRLF followed by a space or tab,
// no other control characters, known methods and properties only.
func parseAuthResults(v string) (string, []arResult, error) {
	p := &arParser{s: v}
	if err := p.cfws(); err != nil {
		return "", nil, err
	}
	id, err := p.word()
	if err != nil {
		return "", nil, fmt.Errorf("authserv-id: %w", err)
	}
	var out []arResult
	for {
		if err := p.cfws(); err != nil {
			return id, nil, err
		}
		if p.eof() {
			break
		}
		if err := p.expect(';'); err != nil {
			return id, nil, err
		}
		var e arResult
		if e.method, e.result, err = p.pair(); err != nil {
			return id, nil, err
		}
		if e.method == "none" && e.result == "" {
			continue
		}
		switch e.method {
		case "iprev", "spf", "dkim", "dmarc", "arc":
		default:
			return id, nil, fmt.Errorf("unknown method %q", e.method)
		}
		e.props = map[string]string{}
		for {
			if err := p.cfws(); err != nil {
				return id, nil, err
			}
			if p.eof() || p.peek() == ';' {
				break
			}
			k, v, err := p.pair()
			if err != nil {
				return id, nil, err
			}
			if !arProps.MatchString(k) {
				return id, nil, fmt.Errorf("unexpected property %q in %s", k, e.method)
			}
			if _, dup := e.props[k]; dup && k != "reason" {
				return id, nil, fmt.Errorf("%s repeated in %s", k, e.method)
			}
			e.props[k] = v
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return id, nil, fmt.Errorf("no results")
	}
	return id, out, nil
}

type arParser struct {
	s string
	i int
}

func (p *arParser) eof() bool  { return p.i >= len(p.s) }
func (p *arParser) peek() byte { return p.s[p.i] }

func (p *arParser) expect(c byte) error {
	if p.eof() || p.s[p.i] != c {
		return fmt.Errorf("at %d: want %q in %q", p.i, c, p.s[p.i:])
	}
	p.i++
	return nil
}

// cfws skips white space, folds and (nested) comments.
func (p *arParser) cfws() error {
	depth := 0
	for !p.eof() {
		c := p.s[p.i]
		switch {
		case c == ' ' || c == '\t':
		case c == '\r':
			if !strings.HasPrefix(p.s[p.i:], "\r\n ") && !strings.HasPrefix(p.s[p.i:], "\r\n\t") {
				return fmt.Errorf("at %d: line break that is not a fold", p.i)
			}
			p.i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0 && c == '\\':
			p.i++
		case depth > 0 && (c < 0x20 || c == 0x7f):
			return fmt.Errorf("at %d: control character %q in a comment", p.i, c)
		case depth > 0:
		default:
			return nil
		}
		p.i++
	}
	if depth > 0 {
		return fmt.Errorf("unterminated comment")
	}
	return nil
}

// pair reads "[CFWS] key [CFWS] = [CFWS] value".
func (p *arParser) pair() (string, string, error) {
	if err := p.cfws(); err != nil {
		return "", "", err
	}
	k, err := p.word()
	if err != nil {
		return "", "", err
	}
	if err := p.cfws(); err != nil {
		return "", "", err
	}
	if err := p.expect('='); err != nil {
		return "", "", err
	}
	if err := p.cfws(); err != nil {
		return "", "", err
	}
	v, err := p.word()
	return strings.ToLower(k), v, err
}

// word reads a token, a dot-atom or address, or a quoted-string (unquoted;
// one followed by "@domain" is a quoted local part and is kept as written).
func (p *arParser) word() (string, error) {
	if !p.eof() && p.s[p.i] == '"' {
		start := p.i
		var b strings.Builder
		for p.i++; ; p.i++ {
			if p.eof() {
				return "", fmt.Errorf("unterminated quoted-string")
			}
			c := p.s[p.i]
			if c < 0x20 || c == 0x7f {
				return "", fmt.Errorf("at %d: control character %q in a quoted-string", p.i, c)
			}
			if c == '\\' {
				p.i++
				if p.eof() {
					return "", fmt.Errorf("unterminated quoted-pair")
				}
				b.WriteByte(p.s[p.i])
				continue
			}
			if c == '"' {
				p.i++
				break
			}
			b.WriteByte(c)
		}
		if !p.eof() && p.s[p.i] == '@' {
			p.run()
			return p.s[start:p.i], nil
		}
		return b.String(), nil
	}
	w := p.run()
	if w == "" {
		if p.eof() {
			return "", fmt.Errorf("value missing at the end")
		}
		return "", fmt.Errorf("at %d: unexpected %q", p.i, p.s[p.i])
	}
	return w, nil
}

// run reads printable characters up to a space, tab, comment, ";", "=" or
// quote.
func (p *arParser) run() string {
	start := p.i
	for !p.eof() {
		c := p.s[p.i]
		if c <= ' ' || c == 0x7f || strings.IndexByte(`();="\`, c) >= 0 {
			break
		}
		p.i++
	}
	return p.s[start:p.i]
}
