package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"

	"spamgate/dkim"
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
