package daemon

import (
	"strings"
	"testing"

	gomilter "github.com/emersion/go-milter"

	"spamgate/dkim"
	"spamgate/internal/miltertest"
)

// A message over [dkim] max_body_bytes or [milter] max_header_bytes is not
// DKIM-verified: its signatures are reported as dkim=policy and vouch for
// nothing. The sender chose the size, so a p=reject From domain that
// nothing else authenticates is refused (issue 12: before, the signature
// counted as "might have passed" and the forgery was delivered with
// dmarc=temperror); the same big message with an aligned SPF pass is
// delivered.
func TestSizeLimits(t *testing.T) {
	sig := " v=1; a=ed25519-sha256; d=reject.test; s=sel; h=from; bh=AAAA; b=BBBB"
	base := [][2]string{{"DKIM-Signature", sig}, {"From", " <ceo@reject.test>"}, {"Subject", " big"}}
	manyHeaders := append([][2]string{}, base...)
	for range 1100 { // 1.1 MiB of header fields, each under Postfix's header_size_limit
		manyHeaders = append(manyHeaders, [2]string{"X-Filler", " " + strings.Repeat("h", 1000)})
	}
	tests := []struct {
		name    string
		headers [][2]string
		body    int
		reason  string
	}{
		{"body over max_body_bytes", base, 1<<20 + 100, "body over 1048576 bytes"},
		{"header over max_header_bytes", manyHeaders, 100, "header section over 1048576 bytes"},
	}
	r := startRig(t, "[dkim]\nmax_body_bytes = 1048576\n")
	// The key exists, so verification reads on into the body (a missing key
	// would be a verdict of its own, permerror, before any body byte).
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
	if err := r.zone.AddText("reject.test. 300 IN TXT \"v=spf1 ip4:192.0.2.10 -all\""); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name+", forged", func(t *testing.T) {
			res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"alice@example.net"},
				Headers: tt.headers, BodyReader: &lines{left: tt.body}})
			if res.Final == nil || res.Final.SMTPCode != 550 || !strings.Contains(res.Final.SMTPText, "reject.test") {
				t.Fatalf("end of message: %+v, want the DMARC refusal", res.Final)
			}
		})
		t.Run(tt.name+", aligned SPF", func(t *testing.T) {
			res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "ceo@reject.test", Rcpts: []string{"alice@example.net"},
				Headers: tt.headers, BodyReader: &lines{left: tt.body}})
			if res.Final == nil || res.Final.Code != gomilter.ActContinue {
				t.Fatalf("end of message: %+v", res.Final)
			}
			ar := res.Header("Authentication-Results")
			if len(ar) != 1 || !strings.Contains(ar[0], "dkim=policy") || !strings.Contains(ar[0], tt.reason) ||
				!strings.Contains(ar[0], "dmarc=pass header.from=reject.test") {
				t.Errorf("Authentication-Results %q", ar)
			}
		})
	}
}
