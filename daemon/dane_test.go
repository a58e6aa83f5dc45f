package daemon

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"spamgate/config"
	"spamgate/dane/danetest"
	"spamgate/mtasts"
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
		{"parent-domain key (Postfix asks it after a NOTFOUND): no lookup", ".secure.test", "NOTFOUND "},
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

// TestTLSPolicyMapTLSRPT: with tlsrpt = true an MTA-STS answer carries
// Postfix 3.10's TLSRPT attributes; answers from other sources never do
// (TLSRPT_README: an error on a non-STS policy), and tlsrpt = false (the
// default, for Postfix < 3.10) gives the bare policy.
func TestTLSPolicyMapTLSRPT(t *testing.T) {
	caFile := startPolicyHost(t, "mta-sts.sts.test", "version: STSv1\r\nmode: enforce\r\nmx: mx1.sts.test\r\nmx: *.backup.sts.test\r\nmax_age: 86400\r\nx-ext: {ignored}\r\n")
	const sts = "OK secure match=mx1.sts.test:.backup.sts.test servername=hostname"
	const attrs = " policy_type=sts policy_domain=sts.test policy_ttl=3600" +
		" mx_host_pattern=mx1.sts.test mx_host_pattern=*.backup.sts.test" +
		" { policy_string = version: STSv1 } { policy_string = mode: enforce }" +
		" { policy_string = mx: mx1.sts.test } { policy_string = mx: *.backup.sts.test }" +
		" { policy_string = max_age: 86400 }"
	for _, tc := range []struct {
		tlsrpt bool
		want   map[string]string
	}{
		{true, map[string]string{
			"sts.test":                    sts + attrs,
			"tls.example":                 "OK encrypt protocols=>=TLSv1.2",
			"praxis.example":              "OK secure match=.mx.praxis.example",
			"[smarthost.example.net]:587": "OK secure match=smarthost.example.net",
			"plain.test":                  "NOTFOUND ",
		}},
		{false, map[string]string{"sts.test": sts}},
	} {
		t.Run(fmt.Sprintf("tlsrpt=%v", tc.tlsrpt), func(t *testing.T) {
			cfg := strings.Replace(fmt.Sprintf(tlsMapConfig, caFile), "mta_sts = true\n",
				fmt.Sprintf("mta_sts = true\ntlsrpt = %v\n", tc.tlsrpt), 1)
			r := startRig(t, cfg)
			addr := r.d.TLSPolicyMapAddr().String()
			for key, want := range tc.want {
				if got := socketmapQuery(t, addr, "tlspolicy", key); got != want {
					t.Errorf("%s:\n got %q\nwant %q", key, got, want)
				}
			}
		})
	}
}

// TestTLSRPTAttributesTTL: policy_ttl is what is left of the policy's
// max_age, at most an hour, at least a second.
func TestTLSRPTAttributesTTL(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		fetched time.Time
		maxAge  time.Duration
		want    string
	}{
		{now, 86400 * time.Second, "policy_ttl=3600 "},
		{now.Add(-time.Hour), 90 * time.Minute, "policy_ttl=1800 "},
		{now.Add(-2 * time.Hour), time.Hour, "policy_ttl=1 "},
	} {
		p := &mtasts.Policy{Version: "STSv1", Mode: "enforce", MX: []string{"mx.example"}, MaxAge: tc.maxAge, Fetched: tc.fetched}
		if got := tlsrptAttributes("example", p, now); !strings.Contains(got, tc.want) {
			t.Errorf("fetched %v ago, max_age %v: %q, want %q", now.Sub(tc.fetched), tc.maxAge, got, tc.want)
		}
	}
}

// TestTLSPolicyMapIgnoresUntrustedAD: a resolver that sets AD on everything
// (here [dns] nameservers, what the milter's checks use) never makes a DANE
// answer; only dnssec_nameservers are believed. plain.test is unsigned:
// unbound, the trusted one, says insecure, so require_tls gives "encrypt".
func TestTLSPolicyMapIgnoresUntrustedAD(t *testing.T) {
	auth := danetest.StartAuth(t, daneZones()...)
	ub := danetest.StartUnbound(t, auth)
	liar := startLyingResolver(t)
	const cfg = `
[tls_policy_map]
enabled = true
listen = "inet:127.0.0.1:0"
dane = true
dnssec_nameservers = [%q]
dnssec_timeout = "300ms"
[[policy.rule]]
recipient = "plain.test"
require_tls = true
`
	for _, tc := range []struct {
		name, dnssec, want string
	}{
		{"AD from [dns] nameservers is ignored", ub.Addr, "OK encrypt"},
		// The contrast: whatever dnssec_nameservers names is believed,
		// which is why it must be a validating resolver the admin runs.
		{"AD from dnssec_nameservers is believed", liar, "OK dane-only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRigOpts(t, rigOptions{extra: fmt.Sprintf(cfg, tc.dnssec),
				tweak: func(c *config.Config) { c.DNS.Nameservers = []string{liar} }})
			if got := socketmapQuery(t, r.d.TLSPolicyMapAddr().String(), "tlspolicy", "plain.test"); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// startLyingResolver answers every MX, A and TLSA question with a record
// and the AD bit, as a hostile or broken resolver could.
func startLyingResolver(t *testing.T) string {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.AuthenticatedData = true
		name := q.Question[0].Name
		var rr string
		switch q.Question[0].Qtype {
		case dns.TypeMX:
			rr = name + " 300 IN MX 10 mx." + name
		case dns.TypeA:
			rr = name + " 300 IN A 127.0.0.1"
		case dns.TypeTLSA:
			rr = name + " 300 IN TLSA 3 1 1 " + daneHash
		}
		if rr != "" {
			if r, err := dns.NewRR(rr); err == nil {
				m.Answer = append(m.Answer, r)
			}
		}
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dns.Server{PacketConn: pc, Handler: h}
	started := make(chan struct{})
	s.NotifyStartedFunc = func() { close(started) }
	go func() { _ = s.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = s.Shutdown() })
	return pc.LocalAddr().String()
}
