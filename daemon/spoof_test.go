package daemon

import (
	"fmt"
	"strings"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"spamgate/config"
	"spamgate/dkim"
	"spamgate/internal/miltertest"
)

// Issue 12: the author a mail client shows is the one judged. reject.test
// publishes p=reject and authorizes no client; good.test's SPF authorizes
// 192.0.2.0/24, so MAIL FROM user@good.test passes SPF but aligns only
// with good.test.
func TestSpoofedAuthor(t *testing.T) {
	t.Parallel()
	r := startRig(t, "")
	const refusedReject = "550 5.7.1 Unauthenticated email from reject.test is not accepted due to its DMARC policy"
	tests := []struct {
		name    string
		headers [][2]string
		want    string // "" delivered, else the reply at end of message
	}{
		{"one From, aligned", [][2]string{{"From", " <user@good.test>"}}, ""},
		{"one From, forged", [][2]string{{"From", " <admin@reject.test>"}}, refusedReject},
		{"two From fields", [][2]string{{"From", " <user@good.test>"}, {"From", " <admin@reject.test>"}},
			"550 5.7.1 Message has more than one From header field"},
		{"two identical From fields", [][2]string{{"From", " <user@good.test>"}, {"From", " <user@good.test>"}},
			"550 5.7.1 Message has more than one From header field"},
		{"From with white space before the colon", [][2]string{{"From ", " <admin@reject.test>"}}, refusedReject},
		{"two domains in one From", [][2]string{{"From", " <user@good.test>, <admin@reject.test>"}}, refusedReject},
		{"unclosed comment", [][2]string{{"From", " admin@reject.test (x"}}, refusedReject},
		{"unclosed angle", [][2]string{{"From", " Admin <admin@reject.test"}}, refusedReject},
		{"address in a broken display name", [][2]string{{"From", " admin@reject.test <user@good.test>"}}, refusedReject},
		{"route", [][2]string{{"From", " <@good.test:admin@reject.test>"}}, refusedReject},
		{"quoted local part", [][2]string{{"From", ` "admin@reject.test"@good.test`}}, ""},
		{"no domain", [][2]string{{"From", " undisclosed"}}, "550 5.7.1 Message has no usable From address"},
		{"empty From", [][2]string{{"From", " "}}, "550 5.7.1 Message has no usable From address"},
		{"too many domains", [][2]string{{"From", " a@d1.test, a@d2.test, a@d3.test, a@d4.test, a@d5.test, a@d6.test"}},
			"550 5.7.1 Message names too many author domains in its From field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"alice@example.net"},
				Headers: append(tt.headers, [2]string{"Subject", " hello"})})
			got := ""
			if res.Final != nil && res.Final.Code == gomilter.ActReplyCode {
				got = fmt.Sprintf("%d %s", res.Final.SMTPCode, res.Final.SMTPText)
			}
			if got != tt.want {
				t.Errorf("end of message %q, want %q (A-R %q)", got, tt.want, res.Header("Authentication-Results"))
			}
		})
	}
	t.Run("malformed From scores", func(t *testing.T) {
		res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"alice@example.net"},
			Headers: [][2]string{{"From", " user@good.test (x"}, {"Subject", " hello"}}})
		if st := res.Header("X-Spam-Status"); len(st) != 1 || !strings.Contains(st[0], "SG_FROM_MALFORMED") {
			t.Errorf("X-Spam-Status %q, want SG_FROM_MALFORMED", st)
		}
		if ar := res.Header("Authentication-Results"); len(ar) != 1 || !strings.Contains(ar[0], "dmarc=pass header.from=good.test") {
			t.Errorf("A-R %q", ar)
		}
	})
}

// With [dmarc] enforce = false the ambiguous author is recorded, not
// refused; multiple_from = "evaluate" judges every From field instead.
func TestSpoofedAuthorSettings(t *testing.T) {
	t.Parallel()
	record := startRig(t, "[dmarc]\nenforce = false\n")
	evaluate := startRig(t, "[dmarc]\nmultiple_from = \"evaluate\"\n")
	two := [][2]string{{"From", " <user@good.test>"}, {"From", " <admin@reject.test>"}}
	res := record.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"a@example.net"}, Headers: two})
	if res.Final == nil || res.Final.Code != gomilter.ActContinue {
		t.Errorf("enforce = false: %+v", res.Final)
	}
	if ar := res.Header("Authentication-Results"); len(ar) != 1 || !strings.Contains(ar[0], "dmarc=permerror") {
		t.Errorf("enforce = false: A-R %q", ar)
	}
	res = evaluate.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"a@example.net"}, Headers: two})
	if res.Final == nil || res.Final.SMTPCode != 550 || !strings.Contains(res.Final.SMTPText, "reject.test") {
		t.Errorf("multiple_from = evaluate: %+v", res.Final)
	}
}

// Issue 18 item 1: each forged field costs Postfix's cleanup a rescan of
// the header; past max_header_deletions the message is refused with no
// edits at all. Under it the forged fields are deleted as before.
func TestTooManyForgedFields(t *testing.T) {
	t.Parallel()
	r := startRig(t, "")
	fields := func(n int, name, value string) [][2]string {
		h := [][2]string{{"From", " <user@good.test>"}}
		for range n {
			h = append(h, [2]string{name, value})
		}
		return h
	}
	tx := func(h [][2]string) miltertest.Tx {
		return miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"a@example.net"}, Headers: h}
	}
	for _, tt := range []struct {
		name, field, value string
	}{
		{"authentication-results", "Authentication-Results", " mx.test; spf=pass"},
		{"x-spam", "X-Spam-Status", " No"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := r.run(t, tx(fields(16000, tt.field, tt.value)))
			if res.Final == nil || res.Final.SMTPCode != 550 || len(res.Mods) != 0 {
				t.Fatalf("16,000 forged fields: %+v, %d edits", res.Final, len(res.Mods))
			}
			res = r.run(t, tx(fields(5, tt.field, tt.value)))
			if res.Final == nil || res.Final.Code != gomilter.ActContinue {
				t.Fatalf("5 forged fields: %+v", res.Final)
			}
			deleted := 0
			for _, m := range res.Mods {
				if m.Code == gomilter.ActChangeHeader && m.HeaderValue == "" && m.HeaderName == tt.field {
					deleted++
				}
			}
			if deleted != 5 {
				t.Errorf("deleted %d fields, want 5", deleted)
			}
		})
	}
}

// Issue 12 item 9: tls_exempt_senders is a claim anyone can write in MAIL
// FROM; it exempts only when SPF passes for the domain.
func TestTLSExemptSenderNeedsSPF(t *testing.T) {
	t.Parallel()
	r := startRig(t, `
[policy]
tls_exempt_senders = ["good.test"]
[[policy.rule]]
recipient = "alice@tls.example"
require_tls = true
`)
	for _, tt := range []struct {
		client, want string
	}{
		{"192.0.2.10", ""}, // good.test's SPF authorizes it
		{"198.51.100.7", "550 5.7.10 Encryption needed: <alice@tls.example> accepts mail only over TLS"},
	} {
		res := r.run(t, miltertest.Tx{ClientIP: tt.client, From: "relay@good.test", Rcpts: []string{"alice@tls.example"}})
		if got := res.Refused("alice@tls.example"); got != tt.want {
			t.Errorf("client %s claiming good.test: %q, want %q", tt.client, got, tt.want)
		}
	}
}

// Issue 12 item 3: one message must not start unbounded DNS. 10,000 From
// fields of fresh names (or one field with as many addresses) start the
// policy lookups of at most max_from_domains domains, under either
// multiple_from setting.
func TestFromFloodBoundedDNS(t *testing.T) {
	t.Parallel()
	for _, setting := range []string{"reject", "evaluate"} {
		r := startRig(t, "[dmarc]\nmultiple_from = \""+setting+"\"\n")
		var many, one [][2]string
		var list strings.Builder
		for i := range 10000 {
			many = append(many, [2]string{"From", fmt.Sprintf(" <a@x%d.reject.test>", i)})
			fmt.Fprintf(&list, "a@y%d.reject.test, ", i)
		}
		one = [][2]string{{"From", " " + strings.TrimSuffix(list.String(), ", ")}}
		for name, h := range map[string][][2]string{"many fields": many, "one field": one} {
			before := r.dns.Queries()
			res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"a@example.net"}, Headers: h})
			if res.Final == nil || res.Final.SMTPCode != 550 {
				t.Errorf("%s, multiple_from = %s: end of message %+v, want 550", name, setting, res.Final)
			}
			// The envelope's own lookups (sender domain, SPF, DNSBL,
			// iprev, DMARC of good.test) plus a few per author domain.
			if q := r.dns.Queries() - before; q > 60 {
				t.Errorf("%s, multiple_from = %s: %d DNS queries", name, setting, q)
			}
		}
	}
}

// slowBody is a body that stalls once, halfway, past the check timeout:
// the DKIM verification is still reading when its deadline comes.
type slowBody struct {
	lines
	stall time.Duration
	done  bool
}

func (b *slowBody) Read(p []byte) (int, error) {
	if !b.done && b.left < 32<<10 {
		b.done = true
		time.Sleep(b.stall)
	}
	return b.lines.Read(p)
}

// Issue 12 item 1: a DKIM verification cut by its deadline vouches for
// nothing. The forged d=reject.test signature (valid key, wrong b=) that
// timed out used to count as "might have passed" (dmarc=temperror,
// delivered); now DMARC fails and p=reject refuses the message.
func TestUnfinishedVerificationRefused(t *testing.T) {
	t.Parallel()
	r := startRigOpts(t, rigOptions{tweak: func(c *config.Config) { c.Milter.CheckTimeout.Duration = time.Second }})
	signer, _, err := dkim.GenerateKey("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	record, err := dkim.DNSRecord(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.zone.AddText("sel._domainkey.reject.test. 300 IN TXT \"" + record + "\""); err != nil {
		t.Fatal(err)
	}
	sig := " v=1; a=ed25519-sha256; c=simple/simple; d=reject.test; s=sel; h=from; bh=AAAA; b=BBBB"
	res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"alice@example.net"},
		Headers:    [][2]string{{"DKIM-Signature", sig}, {"From", " <ceo@reject.test>"}, {"Subject", " slow"}},
		BodyReader: &slowBody{lines: lines{left: 64 << 10}, stall: 1500 * time.Millisecond}})
	if res.Final == nil || res.Final.SMTPCode != 550 || !strings.Contains(res.Final.SMTPText, "reject.test") {
		t.Fatalf("end of message %+v, want the DMARC refusal", res.Final)
	}
}
