package dane

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func usable() *Result {
	return &Result{Domain: "d.test", MX: Secure, Hosts: []Host{
		{Name: "mx1.d.test", Status: Secure, TLSA: []*dns.TLSA{{Usage: 3, Selector: 1, MatchingType: 1}}},
		{Name: "mx2.d.test", Status: Insecure},
	}}
}

func TestDecidePrecedence(t *testing.T) {
	const sts = "secure match=.d.test servername=hostname"
	insecure := &Result{Domain: "d.test", MX: Insecure}
	noTLSA := &Result{Domain: "d.test", MX: Secure, Hosts: []Host{{Name: "mx1.d.test", Status: Secure}}}
	bogus := &Result{Domain: "d.test", MX: Bogus, Err: errors.New("mx lookup: SERVFAIL")}
	for _, tc := range []struct {
		name         string
		in           Inputs
		status, want string
		source       string
	}{
		{"nothing", Inputs{}, "NOTFOUND", "", SourceNotFound},
		{"nexthop beats all", Inputs{Nexthop: "secure match=x", RuleExplicit: "may", RequireTLS: true, DANE: usable(), MTASTS: sts}, "OK", "secure match=x", SourceNexthop},
		{"explicit outbound_tls beats DANE", Inputs{RuleExplicit: "encrypt", DANE: usable(), MTASTS: sts}, "OK", "encrypt", SourceRule},
		{"DANE for require_tls is dane-only", Inputs{RequireTLS: true, DANE: usable(), MTASTS: sts}, "OK", "dane-only", SourceDANE},
		{"DANE with protocols", Inputs{RequireTLS: true, Protocols: ">=TLSv1.2", DANE: usable()}, "OK", "dane-only protocols=>=TLSv1.2", SourceDANE},
		{"DANE otherwise is dane", Inputs{DANE: usable(), MTASTS: sts}, "OK", "dane", SourceDANE},
		{"MTA-STS when MX insecure", Inputs{RequireTLS: true, DANE: insecure, MTASTS: sts}, "OK", sts, SourceMTASTS},
		{"MTA-STS when no TLSA", Inputs{DANE: noTLSA, MTASTS: sts}, "OK", sts, SourceMTASTS},
		{"require_tls when nothing published", Inputs{RequireTLS: true, Protocols: ">=TLSv1.3", DANE: noTLSA}, "OK", "encrypt protocols=>=TLSv1.3", SourceRequire},
		{"require_tls with DANE off", Inputs{RequireTLS: true}, "OK", "encrypt", SourceRequire},
		{"DNSSEC trouble, require_tls: TEMP", Inputs{RequireTLS: true, DANE: bogus, MTASTS: sts}, "TEMP", "", SourceTemp},
		{"DNSSEC trouble, other: NOTFOUND", Inputs{DANE: bogus}, "NOTFOUND", "", SourceNotFound},
		{"DNSSEC trouble, other with MTA-STS: MTA-STS", Inputs{DANE: bogus, MTASTS: sts}, "OK", sts, SourceMTASTS},
		{"DNSSEC trouble, explicit rule still wins", Inputs{RuleExplicit: "verify", RequireTLS: true, DANE: bogus}, "OK", "verify", SourceRule},
		{"insecure, nothing else", Inputs{DANE: insecure}, "NOTFOUND", "", SourceNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.in)
			if d.Status != tc.status || d.Policy != tc.want || d.Source != tc.source {
				t.Errorf("Decide = %s %q (%s, %s), want %s %q (%s)", d.Status, d.Policy, d.Source, d.Why, tc.status, tc.want, tc.source)
			}
			if d.Why == "" {
				t.Error("no reason given")
			}
		})
	}
}

func TestWeaker(t *testing.T) {
	const sts = "secure match=.d.test servername=hostname"
	for _, tc := range []struct {
		name, explicit string
		in             Inputs
		warn           string // substring; "" = no warning
	}{
		{"encrypt under DANE", "encrypt", Inputs{DANE: usable()}, `weaker than what the domain publishes: "dane"`},
		{"may under MTA-STS", "may", Inputs{MTASTS: sts, MTASTSID: "20261207"}, "MTA-STS id 20261207"},
		{"verify under DANE", "verify", Inputs{DANE: usable()}, ""},
		{"encrypt, nothing published", "encrypt", Inputs{RequireTLS: true}, ""},
		{"no explicit policy", "", Inputs{DANE: usable()}, ""},
		{"dane-only under DANE", "dane-only", Inputs{RequireTLS: true, DANE: usable()}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.RuleExplicit = tc.explicit
			got := Weaker(tc.explicit, tc.in)
			if (tc.warn == "") != (got == "") || !strings.Contains(got, tc.warn) {
				t.Errorf("Weaker = %q, want one containing %q", got, tc.warn)
			}
		})
	}
}

func TestResultUsable(t *testing.T) {
	r := usable()
	if !r.Usable() {
		t.Fatal("a secure host with a DANE-EE record is not usable")
	}
	r.Err = errors.New("tlsa lookup failed")
	if r.Usable() {
		t.Error("a failed lookup still counts as DANE")
	}
	pkix := &Result{MX: Secure, Hosts: []Host{{Name: "mx", Status: Secure, Unusable: 1}}}
	if pkix.Usable() {
		t.Error("a host with only PKIX-TA/EE records counts as DANE (RFC 7672 3.1.3: not for SMTP)")
	}
}

// explain -json prints the errors and statuses as words.
func TestResultJSON(t *testing.T) {
	r := usable()
	r.Err = errors.New("tlsa lookup for mx mx2.d.test: SERVFAIL")
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"MX":"secure"`, `"Err":"tlsa lookup for mx mx2.d.test: SERVFAIL"`, `"Status":"insecure"`, `"Name":"mx1.d.test"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
}
