package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"spamgate/dane/danetest"
)

// explain -outbound names the winner, the rule (file:line), the TLSA
// records found, and warns about an outbound_tls weaker than DANE; the
// DNSSEC answers come from a real unbound validating a signed zone.
func TestExplainOutbound(t *testing.T) {
	const hash = "8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d"
	auth := danetest.StartAuth(t, &danetest.Zone{Origin: "secure.test.", Signed: true, RRs: []string{
		"weak.secure.test. 300 IN MX 10 mx.weak.secure.test.",
		"mx.weak.secure.test. 300 IN A 127.0.0.1",
		"_25._tcp.mx.weak.secure.test. 300 IN TLSA 3 1 1 " + hash,
	}})
	ub := danetest.StartUnbound(t, auth)
	cfg := filepath.Join(t.TempDir(), "spamgate.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[dns]\nnameservers = [%q]\n[tls_policy_map]\ndane = true\ndnssec_nameservers = [%q]\n\n"+
		"[[policy.rule]]\nrecipient = \"weak.secure.test\"\nrequire_tls = true\noutbound_tls = \"encrypt\"\n", ub.Addr, ub.Addr)), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"explain", "-config", cfg, "-outbound", "weak.secure.test"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{
		"next hop weak.secure.test: OK encrypt",
		"decided by: rule (rule " + cfg + ":7 outbound_tls)",
		"dane: mx secure",
		"mx.weak.secure.test: tlsa secure, 1 usable",
		"TLSA 3 1 1 " + hash,
		`warning: outbound_tls "encrypt" is weaker than what the domain publishes: "dane-only"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain -outbound lacks %q:\n%s", want, out.String())
		}
	}

	// check-config warns about the same rule, through the same code.
	out.Reset()
	errOut.Reset()
	if code := run([]string{"check-config", "-config", cfg}, &out, &errOut); code != 0 {
		t.Fatalf("check-config exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{
		"warning: " + cfg + `:7: weak.secure.test: outbound_tls "encrypt" is weaker than what the domain publishes: "dane-only"`,
		"configuration OK (1 policy rules, 1 warnings)",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("check-config lacks %q:\n%s", want, errOut.String())
		}
	}
}
