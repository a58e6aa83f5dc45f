package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"spamgate/dnsx/dnstest"
	"spamgate/engine"
)

// explain runs the serve pipeline against a real (loopback) DNS server and
// tells, recipient by recipient, what Postfix would hear.
func TestExplain(t *testing.T) {
	z, err := dnstest.LoadZoneFile("../../testdata/dns/integration.zone", "test.")
	if err != nil {
		t.Fatal(err)
	}
	srv := dnstest.Start(t, z)
	cfg := filepath.Join(t.TempDir(), "spamgate.toml")
	os.WriteFile(cfg, fmt.Appendf(nil, `
[milter]
authserv_id = "mx.test"
internal_networks = []
[dns]
nameservers = [%q]
[dnsbl]
threshold = 2
[[dnsbl.zone]]
name = "bl.test"
weight = 2

[[policy.rule]]
recipient = "tls.example"
require_tls = true
min_tls_version = "TLSv1.3"
`, srv.Addr), 0o600)

	var out, errOut bytes.Buffer
	code := run([]string{"explain", "-config", cfg, "-client", "192.0.2.99", "-helo", "helo.good.test",
		"-from", "user@good.test", "-to", "alice@example.net", "-to", "bob@example.net"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	text := out.String()
	for _, want := range []string{
		"RCPT <alice@example.net>: 554 5.7.1 Service unavailable; client [192.0.2.99] blocked using bl.test",
		"REFUSES dnsbl",
		"bl.test              listed",
		"spf            pass for mailfrom good.test",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("explain output lacks %q:\n%s", want, text)
		}
	}

	out.Reset()
	code = run([]string{"explain", "-config", cfg, "-client", "192.0.2.10", "-helo", "helo.good.test",
		"-from", "user@good.test", "-to", "alice@example.net", "-json"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rep engine.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out.String())
	}
	if len(rep.Recipients) != 1 || rep.Recipients[0].Reply != nil || rep.SPF == nil || rep.SPF.Result != "pass" {
		t.Errorf("JSON report %+v", rep)
	}
	ar := rep.Headers[len(rep.Headers)-1]
	if ar.Name != "Authentication-Results" || !strings.Contains(ar.Value, "spf=pass smtp.mailfrom=user@good.test") ||
		!strings.Contains(ar.Value, "iprev=pass policy.iprev=192.0.2.10 (helo.good.test)") {
		t.Errorf("header changes %+v", rep.Headers)
	}
	if rep.Score == nil || rep.Score.Total >= rep.Score.Tag || len(rep.Suspicion) != 0 {
		t.Errorf("score %+v, suspicion %v: want a clean, not suspicious client", rep.Score, rep.Suspicion)
	}

	// Every contribution to the score is listed.
	out.Reset()
	code = run([]string{"explain", "-config", cfg, "-client", "192.0.2.10", "-helo", "nowhere.test",
		"-from", "user@good.test", "-to", "alice@example.net"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{
		"score 2.8 (tag level 4.5, kill level 16)",
		"+0.8 SG_HELO_UNRESOLVABLE   HELO name does not resolve",
		"+0.5 SG_MISSING_MID",
		"+0.5 SG_MISSING_DATE",
		"+1.0 SG_MISSING_FROM",
		"header: add X-Spam-Status: No, score=2.8 required=4.5",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain output lacks %q:\n%s", want, out.String())
		}
	}
}

// The TLS decision names the rule that made it, with file and line.
func TestExplainTLSRule(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "spamgate.toml")
	os.WriteFile(cfg, []byte("[milter]\ninternal_networks = []\n[dns]\nnameservers = [\"127.0.0.1:1\"]\n"+
		"[dnsbl]\nenabled = false\n[sender_domain]\nenabled = false\n[spf]\nenabled = false\n\n"+
		"[[policy.rule]]\nrecipient = \"tls.example\"\nrequire_tls = true\nmin_tls_version = \"TLSv1.3\"\n"), 0o600)
	var out, errOut bytes.Buffer
	code := run([]string{"explain", "-config", cfg, "-client", "192.0.2.1", "-tls", "TLSv1.2:256",
		"-from", "a@sender.example", "-to", "carol@tls.example", "-to", "dave@example.net"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{
		"RCPT <carol@tls.example>: 550 5.7.10 Encryption needed: <carol@tls.example> accepts mail only over TLSv1.3 or better",
		"policy rule    " + cfg + ":12",
		"REFUSES tls",
		"RCPT <dave@example.net>: accepted",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain output lacks %q:\n%s", want, out.String())
		}
	}
}
