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
	if len(rep.Headers) != 1 || !strings.Contains(rep.Headers[0].Value, "spf=pass smtp.mailfrom=user@good.test") {
		t.Errorf("header changes %+v", rep.Headers)
	}
}
