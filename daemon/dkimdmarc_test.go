package daemon

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"
	"github.com/miekg/dns"

	"spamgate/dkim"
	"spamgate/dmarcreport"
	"spamgate/internal/miltertest"
)

// A message From a p=reject domain that is neither SPF- nor DKIM-aligned
// is refused at end of message; with enforce = false it is only recorded.
func TestDMARCReject(t *testing.T) {
	tx := miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"alice@example.net"},
		Headers: [][2]string{{"From", " <ceo@reject.test>"}, {"Subject", " wire the money"}}, Body: "now\r\n"}

	r := startRig(t, "")
	res := r.run(t, tx)
	if res.Final == nil || res.Final.Code != gomilter.ActReplyCode || res.Final.SMTPCode != 550 ||
		res.Final.SMTPText != "5.7.1 Unauthenticated email from reject.test is not accepted due to its DMARC policy" {
		t.Errorf("end of message: %+v", res.Final)
	}

	r = startRig(t, "[dmarc]\nenforce = false\n")
	res = r.run(t, tx)
	if res.Final == nil || res.Final.Code != gomilter.ActContinue {
		t.Fatalf("with enforce = false: %+v", res.Final)
	}
	ar := res.Header("Authentication-Results")
	if len(ar) != 1 || !strings.Contains(ar[0], "dmarc=fail header.from=reject.test policy.dmarc=reject") {
		t.Errorf("Authentication-Results %q", ar)
	}
}

// Outbound mail is signed; the signed message verifies inbound, and its
// aligned DKIM pass makes DMARC pass.
func TestDKIMSignThenVerify(t *testing.T) {
	signer, pemKey, err := dkim.GenerateKey("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "good.test.ed25519.pem")
	if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	record, err := dkim.DNSRecord(signer.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	r := startRig(t, fmt.Sprintf("[[dkim.key]]\ndomain = \"good.test\"\nselector = \"sel\"\nfile = %q\n", keyFile))
	r.zone.Add(&dns.TXT{Hdr: dns.RR_Header{Name: "sel._domainkey.good.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300},
		Txt: []string{record}})

	headers := [][2]string{{"From", " Alice <alice@good.test>"}, {"To", " bob@example.net"},
		{"Subject", " signed\n and folded"}, {"Date", " Mon, 23 Nov 2026 12:00:00 +0000"}}
	body := "Hello,\r\nthis is signed.\r\n"
	out := r.run(t, miltertest.Tx{ClientIP: "192.0.2.201", From: "alice@good.test", Rcpts: []string{"bob@example.net"},
		Headers: headers, Body: body})
	sigs := out.Header("DKIM-Signature")
	if len(sigs) != 1 || !strings.Contains(sigs[0], "d=good.test") || !strings.Contains(sigs[0], "s=sel") {
		t.Fatalf("outbound signatures: %q", sigs)
	}

	in := r.run(t, miltertest.Tx{ClientIP: "198.51.100.7", From: "alice@good.test", Rcpts: []string{"carol@example.net"},
		Headers: append([][2]string{{"DKIM-Signature", sigs[0]}}, headers...), Body: body})
	ar := in.Header("Authentication-Results")
	if len(ar) != 1 || !strings.Contains(ar[0], "dkim=pass header.d=good.test header.s=sel") || !strings.Contains(ar[0], "dmarc=pass header.from=good.test") {
		t.Errorf("inbound Authentication-Results %q", ar)
	}

	tampered := r.run(t, miltertest.Tx{ClientIP: "198.51.100.7", From: "alice@good.test", Rcpts: []string{"carol@example.net"},
		Headers: append([][2]string{{"DKIM-Signature", sigs[0]}}, headers...), Body: body + "P.S. changed\r\n"})
	if ar := tampered.Header("Authentication-Results"); len(ar) != 1 || !strings.Contains(ar[0], "dkim=fail") {
		t.Errorf("tampered body: %q", ar)
	}
}

// Per-recipient dmarc_enforce: one recipient whose rule opts out keeps the
// message (the refusal is per message at end of message); a rule can also
// opt in where the global setting only records.
func TestDMARCEnforcePerRecipient(t *testing.T) {
	tx := func(rcpts ...string) miltertest.Tx {
		return miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: rcpts,
			Headers: [][2]string{{"From", " <ceo@reject.test>"}}, Body: "x\r\n"}
	}
	rules := "[[policy.rule]]\nrecipient = \"lenient.example\"\ndmarc_enforce = false\n\n" +
		"[[policy.rule]]\nrecipient = \"strict.example\"\ndmarc_enforce = true\n"
	r := startRig(t, rules)
	if res := r.run(t, tx("a@lenient.example", "b@example.net")); res.Final.Code != gomilter.ActContinue {
		t.Errorf("with an opted-out recipient: %+v", res.Final)
	}
	if res := r.run(t, tx("b@example.net")); res.Final.SMTPCode != 550 {
		t.Errorf("without one: %+v", res.Final)
	}
	r = startRig(t, "[dmarc]\nenforce = false\n"+rules)
	if res := r.run(t, tx("c@strict.example")); res.Final.SMTPCode != 550 {
		t.Errorf("opted in under a recording-only default: %+v", res.Final)
	}
}

// p=quarantine with quarantine_action = "quarantine" holds the message.
func TestDMARCQuarantine(t *testing.T) {
	r := startRig(t, "[dmarc]\nquarantine_action = \"quarantine\"\n")
	res := r.run(t, miltertest.Tx{ClientIP: "198.51.100.7", From: "user@reject.test", Rcpts: []string{"a@example.net"},
		Headers: [][2]string{{"From", " <alice@good.test>"}}, Body: "x\r\n"})
	var held string
	for _, m := range res.Mods {
		if m.Code == gomilter.ActQuarantine {
			held = m.Reason
		}
	}
	if held != "DMARC policy of good.test" {
		t.Errorf("quarantine reason %q; mods %+v", held, res.Mods)
	}
}

// Every DMARC evaluation is recorded for aggregate reports; the history
// yields one report for the domain that asks for them (rua=).
func TestDMARCHistory(t *testing.T) {
	dir := t.TempDir()
	r := startRig(t, fmt.Sprintf("[dmarc]\nhistory_dir = %q\n", dir))
	for range 3 {
		r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"a@example.net"},
			Headers: [][2]string{{"From", " <news@report.test>"}}, Body: "x\r\n"})
	}
	evals, warnings, err := dmarcreport.Read(dir, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || len(warnings) > 0 || len(evals) != 3 {
		t.Fatalf("history: %d evaluations, warnings %v, %v", len(evals), warnings, err)
	}
	if e := evals[0]; e.HeaderFrom != "report.test" || e.PolicyDomain != "report.test" || e.SourceIP.String() != "192.0.2.10" {
		t.Errorf("evaluation %+v", e)
	}
	reports := dmarcreport.Aggregate(evals, dmarcreport.Reporter{OrgName: "mx.test", Email: "postmaster@mx.test", Domain: "mx.test"},
		time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if len(reports) != 1 || reports[0].Domain != "report.test" || !strings.Contains(string(reports[0].XML), "<count>3</count>") {
		t.Errorf("reports %+v", reports)
	}
}

// p=quarantine with the default quarantine_action = "tag" flags the message.
func TestDMARCQuarantineTags(t *testing.T) {
	r := startRig(t, "")
	res := r.run(t, miltertest.Tx{ClientIP: "198.51.100.7", From: "user@reject.test", Rcpts: []string{"a@example.net"},
		Headers: [][2]string{{"From", " <alice@good.test>"}}, Body: "x\r\n"})
	if got := res.Header("X-Spam-Flag"); len(got) != 1 || strings.TrimSpace(got[0]) != "YES" {
		t.Errorf("X-Spam-Flag %q", got)
	}
	if ar := res.Header("Authentication-Results"); len(ar) != 1 || !strings.Contains(ar[0], "dmarc=fail header.from=good.test policy.dmarc=quarantine") {
		t.Errorf("Authentication-Results %q", ar)
	}
}
