package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"spamgate/config"
	"spamgate/daemon"
	"spamgate/dkim"
	"spamgate/dnsx/dnstest"
	"spamgate/internal/postfixtest"
)

// ARC through two Postfix instances (issue 16). origin.test publishes
// p=reject and signs its mail. The list host list.test runs Postfix L with
// spamgate L: mail from outside (127.0.0.2) is verified on the way in and
// delivered to the list software (a sink); the list software (this test)
// changes the Subject and re-sends the message from 127.0.0.1, an internal
// network, so spamgate L seals it on the way out, and Postfix L relays it
// to the receiver, Postfix R with spamgate R. The changed Subject breaks
// origin.test's DKIM signature and the list's IP is not in origin.test's
// SPF: DMARC fails. R refuses it until list.test is a trusted sealer; then
// it delivers it with arc=pass and the override recorded.
func TestARCForwardedThroughList(t *testing.T) {
	z := dnstest.NewZone()
	for _, rr := range []string{
		`_dmarc.origin.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`origin.test. 300 IN A 127.0.0.9`,
		`list.test. 300 IN A 127.0.0.1`,
		`list.test. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
	} {
		if err := z.AddText(rr); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	publish := func(name, algo string) (dkim.Key, string) {
		signer, pemKey, err := dkim.GenerateKey(algo)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := dkim.DNSRecord(signer.Public())
		if err != nil {
			t.Fatal(err)
		}
		z.Add(&dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}, Txt: splitTXT(rec)})
		file := filepath.Join(dir, algo+strings.Split(name, ".")[0]+".pem")
		if err := os.WriteFile(file, pemKey, 0o600); err != nil {
			t.Fatal(err)
		}
		return dkim.Key{Signer: signer}, file
	}
	origin, _ := publish("o._domainkey.origin.test.", "ed25519")
	origin.Domain, origin.Selector = "origin.test", "o"
	_, listKey := publish("arc._domainkey.list.test.", "rsa")
	dnsSrv := dnstest.Start(t, z)

	base := "[milter]\nlisten = \"inet:127.0.0.1:0\"\nauthserv_id = %q\ninternal_networks = [%s]\n" +
		"[dns]\nnameservers = [%q]\n[greylist]\nmode = \"never\"\n[dnsbl]\nenabled = false\n[sender_domain]\nenabled = false\n"
	// The receiver's configuration lives in a file: the trust is added by a reload.
	rFile := filepath.Join(dir, "r.toml")
	rConf := fmt.Sprintf(base, "mx.test", "", dnsSrv.Addr)
	if err := os.WriteFile(rFile, []byte(rConf), 0o600); err != nil {
		t.Fatal(err)
	}
	rCfg, err := config.Load(rFile)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := daemon.Start(rCfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Shutdown(context.Background()) })
	listMilter := startSpamgate(t, fmt.Sprintf(base, "list.test", `"127.0.0.1/32"`, dnsSrv.Addr)+
		fmt.Sprintf("[arc]\nseal_outbound = true\nsealer_domain = \"list.test\"\n[[arc.key]]\ndomain = \"list.test\"\nselector = \"arc\"\nfile = %q\n", listKey))

	sinkR := postfixtest.StartSink(t)
	sinkList := postfixtest.StartSink(t)
	r := postfixtest.Start(t, postfixtest.Options{Milter: "inet:" + rd.Addr().String(), Relay: sinkR.Addr})
	l := postfixtest.Start(t, postfixtest.Options{Milter: "inet:" + listMilter, Relay: r.SMTPAddr,
		MainCF: map[string]string{"transport_maps": "inline:{list.test=smtp:[127.0.0.1]:" + strings.Split(sinkList.Addr, ":")[1] + "}"}})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	send := func(m postfixtest.Mail) {
		t.Helper()
		tr, err := postfixtest.Send(ctx, l.SMTPAddr, m)
		if err != nil || tr.Message.Code != 250 {
			t.Fatalf("send to the list host: %v\n%s", err, tr)
		}
	}

	// 1. The author's mail reaches the list, verified on the way in.
	send(postfixtest.Mail{Source: "127.0.0.2", Helo: "mail.origin.test", From: "alice@origin.test",
		To: []string{"list@list.test"}, Data: []byte(signed(t, origin))})
	in := string(sinkList.WaitMessages(t, 1, 20*time.Second)[0].Raw)
	if !strings.Contains(in, "dkim=pass header.d=origin.test") || !strings.Contains(in, "dmarc=pass header.from=origin.test") {
		t.Fatalf("the list host's inbound verification:\n%s", in)
	}
	// 2. The list software changes the Subject and re-sends.
	listCopy := strings.Replace(in, "Subject: plans", "Subject: [list] plans", 1)
	resend := postfixtest.Mail{Helo: "list.test", From: "list-bounces@list.test", To: []string{"bob@example.net"}, Data: []byte(listCopy)}
	send(resend)
	// Untrusted: R refuses; Postfix L bounces to the list (delivered to the list sink).
	bounce := string(sinkList.WaitMessages(t, 2, 30*time.Second)[1].Raw)
	if flat := strings.Join(strings.Fields(bounce), " "); !strings.Contains(flat, "550 5.7.1 Unauthenticated email from origin.test is not accepted due to its DMARC policy") {
		t.Fatalf("no DMARC refusal from the receiver in the bounce:\n%s", bounce)
	}
	if n := len(sinkR.Messages(t)); n != 0 {
		t.Fatalf("the receiver delivered %d messages without trusting the list", n)
	}

	// 3. R trusts list.test: the same list copy is delivered, with the override.
	if err := os.WriteFile(rFile, []byte(rConf+"[arc]\ntrusted_sealers = [\"list.test\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rd.Reload(); err != nil {
		t.Fatal(err)
	}
	send(resend)
	got := string(sinkR.WaitMessages(t, 1, 30*time.Second)[0].Raw)
	header, _, _ := strings.Cut(got, "\r\n\r\n")
	flat := strings.ReplaceAll(header, "\r\n\t", " ")
	for _, want := range []string{
		"Authentication-Results: mx.test;",
		"arc=pass header.oldest-pass=0 (as=1 ams=1 sealers=list.test)",
		"dmarc=fail header.from=origin.test policy.dmarc=reject (override=trusted_forwarder,arc=pass,sealer=list.test)",
		"ARC-Seal: i=1; a=rsa-sha256; d=list.test; s=arc;",
		"Subject: [list] plans",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, header)
		}
	}
	// The AAR carries the list's verdict of the way in.
	if !regexp.MustCompile(`ARC-Authentication-Results: i=1; list\.test;[^\r]*dkim=pass header\.d=origin\.test[^\r]*dmarc=pass header\.from=origin\.test`).MatchString(flat) {
		t.Errorf("the AAR does not carry the list's inbound pass:\n%s", header)
	}
}

// signed is origin.test's message, DKIM-signed by it.
func signed(t *testing.T, k dkim.Key) string {
	t.Helper()
	head := "From: Alice <alice@origin.test>\r\nTo: list@list.test\r\nSubject: plans\r\n" +
		"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <arc-e2e@origin.test>\r\n"
	body := "See you at ten.\r\n"
	sg, err := dkim.NewSigner([]dkim.Key{k})
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(strings.TrimSuffix(head, "\r\n"), "\r\n") {
		name, value, _ := strings.Cut(line, ":")
		sg.Header(name, value)
	}
	sg.EndHeaders()
	sg.Body([]byte(body))
	sigs, err := sg.Close()
	if err != nil {
		t.Fatal(err)
	}
	return "DKIM-Signature:" + strings.ReplaceAll(sigs[0], "\n", "\r\n") + "\r\n" + head + "\r\n" + body
}
