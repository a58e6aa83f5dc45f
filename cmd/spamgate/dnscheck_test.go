package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"spamgate/dkim"
	"spamgate/dnsx/dnstest"
)

// dnsCheckSetup serves good.test (fully configured, one ed25519 key) and
// writes a configuration pointing at that server and key.
func dnsCheckSetup(t *testing.T) (cfgPath string) {
	t.Helper()
	dir := t.TempDir()
	signer, pemKey, err := dkim.GenerateKey("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "s1.pem")
	if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := dkim.DNSRecord(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	z := dnstest.NewZone()
	if err := z.AddText(`good.test. 300 IN TXT "v=spf1 ip4:192.0.2.25 -all"
good.test. 300 IN MX 10 mail.good.test.
mail.good.test. 300 IN A 192.0.2.25
25.2.0.192.in-addr.arpa. 300 IN PTR mail.good.test.
_dmarc.good.test. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@good.test"
s1._domainkey.good.test. 300 IN TXT "` + rec + `"
nomx.test. 300 IN TXT "v=spf1 -all"
`); err != nil {
		t.Fatal(err)
	}
	srv := dnstest.Start(t, z)
	cfgPath = filepath.Join(dir, "spamgate.toml")
	os.WriteFile(cfgPath, fmt.Appendf(nil, `[dns]
nameservers = [%q]
timeout = "1s"

[[dkim.key]]
domain = "good.test"
selector = "s1"
file = %q
`, srv.Addr, keyFile), 0o600)
	return cfgPath
}

func TestDNSCheckCommand(t *testing.T) {
	cfg := dnsCheckSetup(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // substrings
		stderr string
	}{
		{"all pass", []string{"-config", cfg, "-ip", "192.0.2.25", "good.test"}, 0,
			[]string{"CHECK", "SPF ", "DKIM s1 ", "DMARC ", "MX ", "PTR 192.0.2.25 ", "result: pass"}, ""},
		{"flags after the domain", []string{"good.test", "-config", cfg, "-ip", "192.0.2.25"}, 0,
			[]string{"PTR 192.0.2.25  PASS", "result: pass"}, ""},
		{"no -ip skips PTR", []string{"-config", cfg, "good.test"}, 0,
			[]string{"PTR", "SKIP", "result: pass"}, ""},
		{"failing domain", []string{"-config", cfg, "nomx.test"}, 1,
			[]string{"MX", "FAIL", "no MX record", "DKIM", "SKIP", "result: FAIL"}, ""},
		{"no domain", []string{"-config", cfg}, 2, nil, "DOMAIN is required"},
		{"two domains", []string{"-config", cfg, "a.test", "b.test"}, 2, nil, "one DOMAIN only"},
		{"bad -ip", []string{"-config", cfg, "-ip", "mail.good.test", "good.test"}, 2, nil, "not an IP address"},
		{"unknown flag", []string{"-frob", "good.test"}, 2, nil, "flag provided but not defined"},
		{"missing config", []string{"-config", "/nonexistent.toml", "good.test"}, 1, nil, "nonexistent.toml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := dnsCheck(tc.args, &out, &errOut)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errOut.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			if !strings.Contains(errOut.String(), tc.stderr) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tc.stderr)
			}
		})
	}
}

func TestDNSCheckJSON(t *testing.T) {
	cfg := dnsCheckSetup(t)
	for _, tc := range []struct {
		domain string
		code   int
		ok     bool
	}{{"good.test", 0, true}, {"nomx.test", 1, false}} {
		var out, errOut bytes.Buffer
		if code := dnsCheck([]string{"-json", "-config", cfg, tc.domain}, &out, &errOut); code != tc.code {
			t.Fatalf("%s: exit %d: %s", tc.domain, code, errOut.String())
		}
		var got struct {
			Domain string
			OK     bool
			Checks []struct{ Name, Status, Detail string }
		}
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		if got.Domain != tc.domain || got.OK != tc.ok || len(got.Checks) != 5 || got.Checks[0].Name != "SPF" {
			t.Errorf("%s: %+v", tc.domain, got)
		}
	}
}
