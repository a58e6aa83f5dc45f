package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
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

// A c=simple/simple signature breaks on any change to a header byte: it
// verifies only if spamgate rebuilds the header fields exactly as the
// sender wrote them from what Postfix passes (leading space, folding).
func TestSimpleSignatureSurvivesPostfix(t *testing.T) {
	w := setUp(t, "", "")
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	record, err := dkim.DNSRecord(pub)
	if err != nil {
		t.Fatal(err)
	}
	w.zone.Add(&dns.TXT{Hdr: dns.RR_Header{Name: "e2e._domainkey.loop.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300},
		Txt: []string{record}})

	msg := "From: Sender <user@loop.test>\r\n" +
		"To: alice@example.net\r\n" +
		"Subject:   odd  spacing,\r\n\tand a folded\r\n  continuation\r\n" +
		"Date: Mon, 23 Nov 2026 12:00:00 +0000\r\n" +
		"\r\n" +
		"Body line one.\r\n\r\nBody line three.\r\n"
	var signed bytes.Buffer
	err = msgdkim.Sign(&signed, strings.NewReader(msg), &msgdkim.SignOptions{Domain: "loop.test", Selector: "e2e", Signer: key,
		HeaderCanonicalization: msgdkim.CanonicalizationSimple, BodyCanonicalization: msgdkim.CanonicalizationSimple,
		HeaderKeys: []string{"From", "To", "Subject", "Date"}})
	if err != nil {
		t.Fatal(err)
	}
	tr := w.send(t, postfixtest.Mail{Helo: "client.loop.test", From: "user@loop.test", To: []string{"alice@example.net"}, Data: signed.Bytes()})
	if tr.Message.Code != 250 {
		t.Fatalf("not accepted:\n%s", tr)
	}
	got := string(w.sink.WaitMessages(t, 1, 20*time.Second)[0].Raw)
	header, _, _ := strings.Cut(got, "\r\n\r\n")
	if !strings.Contains(header, "dkim=pass header.d=loop.test header.s=e2e") {
		t.Errorf("c=simple/simple signature did not verify after Postfix:\n%s", header)
	}
	if !strings.Contains(header, "dmarc=none header.from=loop.test") {
		t.Errorf("no DMARC result:\n%s", header)
	}
}

// Signed on the way out, verified on the way in: Postfix A hands outbound
// mail to a spamgate that signs it (ed25519 and rsa together), relays it to
// Postfix B, whose spamgate verifies it.
func TestSignedOutboundVerifiesInbound(t *testing.T) {
	z, err := dnstest.LoadZoneFile("../testdata/dns/integration.zone", "test.")
	if err != nil {
		t.Fatal(err)
	}
	dnsSrv := dnstest.Start(t, z)
	dir := t.TempDir()
	var keys strings.Builder
	for _, algo := range []string{"ed25519", "rsa"} {
		signer, pemKey, err := dkim.GenerateKey(algo)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, algo+".pem")
		if err := os.WriteFile(file, pemKey, 0o600); err != nil {
			t.Fatal(err)
		}
		record, err := dkim.DNSRecord(signer.Public())
		if err != nil {
			t.Fatal(err)
		}
		z.Add(&dns.TXT{Hdr: dns.RR_Header{Name: algo + "._domainkey.loop.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300},
			Txt: splitTXT(record)})
		fmt.Fprintf(&keys, "[[dkim.key]]\ndomain = \"loop.test\"\nselector = %q\nfile = %q\n", algo, file)
	}
	base := "[milter]\nlisten = \"inet:127.0.0.1:0\"\nauthserv_id = \"%s\"\ninternal_networks = [%s]\n[dns]\nnameservers = [%q]\n[greylist]\nmode = \"never\"\n[dnsbl]\nenabled = false\n"
	outbound := startSpamgate(t, fmt.Sprintf(base, "out.test", `"127.0.0.0/8"`, dnsSrv.Addr)+keys.String())
	inbound := startSpamgate(t, fmt.Sprintf(base, "in.test", "", dnsSrv.Addr))

	sink := postfixtest.StartSink(t)
	b := postfixtest.Start(t, postfixtest.Options{Milter: "inet:" + inbound, Relay: sink.Addr})
	a := postfixtest.Start(t, postfixtest.Options{Milter: "inet:" + outbound, Relay: b.SMTPAddr})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := postfixtest.Send(ctx, a.SMTPAddr, postfixtest.Mail{Helo: "client.loop.test", From: "user@loop.test",
		To: []string{"alice@example.net"}, Data: []byte("From: User <user@loop.test>\r\nTo: alice@example.net\r\nSubject: signed on the way out\r\n\r\nHello.\r\n")})
	if err != nil || tr.Message.Code != 250 {
		t.Fatalf("submission: %v\n%s", err, tr)
	}
	got := string(sink.WaitMessages(t, 1, 20*time.Second)[0].Raw)
	header, _, _ := strings.Cut(got, "\r\n\r\n")
	for _, want := range []string{"dkim=pass header.d=loop.test header.s=ed25519", "dkim=pass header.d=loop.test header.s=rsa"} {
		if !strings.Contains(header, want) {
			t.Errorf("inbound Authentication-Results lacks %q:\n%s", want, header)
		}
	}
}

// startSpamgate runs a daemon on a configuration text; it returns its address.
func startSpamgate(t *testing.T, text string) string {
	t.Helper()
	cfg, err := config.Parse("e2e.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Start(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	return d.Addr().String()
}

// splitTXT cuts a TXT value into character-strings of at most 255 bytes.
func splitTXT(s string) []string {
	var out []string
	for len(s) > 255 {
		out, s = append(out, s[:255]), s[255:]
	}
	return append(out, s)
}
