package daemon

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"spamgate/dane/danetest"
)

const daneHash = "8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d"

// daneMapConfig: dane on, unbound as the only validating resolver, and
// rules that exercise each step of the precedence.
const daneMapConfig = `
[tls_policy_map]
enabled = true
listen = "inet:127.0.0.1:0"
mta_sts = true
mta_sts_ca_file = %q
dane = true
dnssec_nameservers = [%q]
dnssec_timeout = "300ms"
[[tls_policy_map.nexthop]]
nexthop = "nexthop.secure.test"
policy = "secure match=mx.nexthop.secure.test"

[[policy.rule]]
recipient = "req.secure.test"
require_tls = true
min_tls_version = "TLSv1.2"

[[policy.rule]]
recipient = "explicit.secure.test"
require_tls = true
outbound_tls = "encrypt"

[[policy.rule]]
recipient = "bogus.secure.test"
require_tls = true

[[policy.rule]]
recipient = "plain.test"
require_tls = true
`

func daneZones() []*danetest.Zone {
	mxWithTLSA := func(domain string) []string {
		return []string{domain + ". 300 IN MX 10 mx." + domain + ".", "mx." + domain + ". 300 IN A 127.0.0.1",
			"_25._tcp.mx." + domain + ". 300 IN TLSA 3 1 1 " + daneHash}
	}
	var secure []string
	for _, d := range []string{"req", "dane", "explicit", "nexthop", "bogus", "bogusfree"} {
		secure = append(secure, mxWithTLSA(d+".secure.test")...)
	}
	return []*danetest.Zone{
		{Origin: "secure.test.", Signed: true, RRs: secure,
			Bogus: []string{"_25._tcp.mx.bogus.secure.test.", "_25._tcp.mx.bogusfree.secure.test."}},
		// sts.test publishes MTA-STS enforce (testdata/dns/integration.zone
		// through [dns]) and, here, DANE: DANE wins (RFC 8461 section 2).
		{Origin: "sts.test.", Signed: true, RRs: []string{
			"sts.test. 300 IN MX 10 mx1.sts.test.", "mx1.sts.test. 300 IN A 127.0.0.1",
			"_25._tcp.mx1.sts.test. 300 IN TLSA 3 1 1 " + daneHash}},
		{Origin: "plain.test.", RRs: mxWithTLSA("plain.test")},
	}
}

// TestTLSPolicyMapDANE asks the socketmap what Postfix would ask, with a
// real validating resolver (unbound) in front of signed zones.
func TestTLSPolicyMapDANE(t *testing.T) {
	caFile := startPolicyHost(t, "mta-sts.sts.test", "version: STSv1\r\nmode: enforce\r\nmx: mx1.sts.test\r\nmax_age: 86400\r\n")
	auth := danetest.StartAuth(t, daneZones()...)
	ub := danetest.StartUnbound(t, auth)
	r, base := startMetricsRig(t, "", fmt.Sprintf(daneMapConfig, caFile, ub.Addr))
	addr := r.d.TLSPolicyMapAddr().String()
	ask := func(t *testing.T, key, want string) {
		t.Helper()
		if got := socketmapQuery(t, addr, "tlspolicy", key); got != want {
			t.Errorf("%s: got %q, want %q", key, got, want)
		}
	}
	const temp = "TEMP DNSSEC lookup failed for a domain that requires TLS"
	for _, tt := range []struct{ name, key, want string }{
		{"require_tls with DANE: dane-only", "req.secure.test", "OK dane-only protocols=>=TLSv1.2"},
		{"DANE without a rule: dane", "dane.secure.test", "OK dane"},
		{"explicit outbound_tls still wins", "explicit.secure.test", "OK encrypt"},
		{"nexthop entry wins over DANE", "nexthop.secure.test", "OK secure match=mx.nexthop.secure.test"},
		{"bogus TLSA, require_tls: TEMP", "bogus.secure.test", temp},
		{"bogus TLSA, no rule: NOTFOUND", "bogusfree.secure.test", "NOTFOUND "},
		{"DANE and MTA-STS: DANE", "sts.test", "OK dane"},
		{"unsigned zone, require_tls: encrypt", "plain.test", "OK encrypt"},
		{"bracketed next hop: no DANE lookup", "[mx.dane.secure.test]:25", "NOTFOUND "},
	} {
		t.Run(tt.name, func(t *testing.T) { ask(t, tt.key, tt.want) })
	}

	t.Run("validating resolver stopped, then back", func(t *testing.T) {
		ub.Stop()
		ask(t, "req.secure.test", temp)
		ask(t, "dane.secure.test", "NOTFOUND ")
		ask(t, "plain.test", temp) // its DANE status cannot be known either
		ask(t, "explicit.secure.test", "OK encrypt")
		ub.Start()
		ask(t, "req.secure.test", "OK dane-only protocols=>=TLSv1.2")
	})

	t.Run("explain -outbound", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cfg, pol := r.d.Config(), r.d.Engine().Policy()
		e, err := ExplainOutbound(ctx, cfg, pol, r.d.resolver, r.d.log, "explicit.secure.test")
		if err != nil {
			t.Fatal(err)
		}
		if e.Decision.Policy != "encrypt" || !strings.Contains(e.Warning, `weaker than what the domain publishes: "dane-only"`) {
			t.Errorf("explicit encrypt under DANE: %+v, warning %q", e.Decision, e.Warning)
		}
		e, _ = ExplainOutbound(ctx, cfg, pol, r.d.resolver, r.d.log, "sts.test")
		if e.Decision.Source != "dane" || e.Inputs.MTASTSID == "" || e.Inputs.DANE == nil || len(e.Inputs.DANE.Hosts) != 1 || e.Warning != "" {
			t.Errorf("sts.test: %+v, inputs %+v, warning %q", e.Decision, e.Inputs, e.Warning)
		}
	})

	_, body := httpGet(t, base+"/metrics")
	for _, series := range []string{
		`spamgate_tls_policy_answers_total{source="dane"}`,
		`spamgate_tls_policy_answers_total{source="temp"}`,
		`spamgate_tls_policy_answers_total{source="notfound"}`,
		`spamgate_tls_policy_answers_total{source="rule"}`,
		`spamgate_tls_policy_answers_total{source="nexthop"}`,
		`spamgate_tls_policy_answers_total{source="rule-require-tls"}`,
	} {
		if !strings.Contains(body, series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}
