package spfsuite

import (
	"slices"
	"testing"

	"github.com/miekg/dns"

	"spamgate/spf"
)

const suitePath = "../../testdata/spf/rfc7208-tests.yml"

func load(t *testing.T) []Scenario {
	t.Helper()
	scs, err := Load(suitePath)
	if err != nil {
		t.Fatal(err)
	}
	return scs
}

func TestLoadCounts(t *testing.T) {
	scs := load(t)
	tests := 0
	names := map[string]bool{}
	for _, sc := range scs {
		for _, tc := range sc.Tests {
			tests++
			if names[tc.Name] {
				t.Errorf("duplicate test name %s", tc.Name)
			}
			names[tc.Name] = true
			if len(tc.Results) == 0 {
				t.Errorf("%s: no result", tc.Name)
			}
		}
	}
	if len(scs) != 16 || tests != 203 {
		t.Errorf("got %d scenarios, %d tests; want 16, 203", len(scs), tests)
	}
}

// find returns the scenario holding test name, and the test.
func find(t *testing.T, scs []Scenario, name string) (Scenario, Test) {
	t.Helper()
	for _, sc := range scs {
		for _, tc := range sc.Tests {
			if tc.Name == name {
				return sc, tc
			}
		}
	}
	t.Fatalf("no test %s", name)
	return Scenario{}, Test{}
}

// rrs returns the records of owner (presentation form) and type.
func rrs(sc Scenario, owner string, qtype uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range sc.Records {
		if rr.Header().Name == owner && rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	return out
}

func TestTestFields(t *testing.T) {
	scs := load(t)
	_, tc := find(t, scs, "multispf1")
	if !slices.Equal(tc.Results, []spf.Result{spf.PermError, spf.Fail}) {
		t.Errorf("multispf1 results %v", tc.Results)
	}
	_, tc = find(t, scs, "detect-errors-anywhere")
	if tc.Spec != "4.6" || tc.Helo != "mail.example.com" || tc.MailFrom != "foo@t1.example.com" || tc.Host != "1.2.3.4" {
		t.Errorf("detect-errors-anywhere: %+v", tc)
	}
	_, tc = find(t, scs, "a-cidr6-0-ip4mapped")
	if ip, err := tc.Addr(); err != nil || !ip.Is4In6() {
		t.Errorf("::FFFF:1.2.3.4: %v %v", ip, err)
	}
	_, tc = find(t, scs, "helo-not-fqdn")
	if tc.MailFrom != "" {
		t.Errorf("null sender: %q", tc.MailFrom)
	}
	_, tc = find(t, scs, "redirect-cancels-exp")
	if tc.Explanation != "DEFAULT" {
		t.Errorf("explanation %q", tc.Explanation)
	}
}

// TestDriverConventions checks the conventions of pyspf's testspf.py.
func TestDriverConventions(t *testing.T) {
	scs := load(t)

	// SPF entries are published as TXT too...
	sc, _ := find(t, scs, "txtonly")
	if got := rrs(sc, "spfonly.example.net.", dns.TypeTXT); len(got) != 0 {
		t.Errorf("TXT: NONE still published %v", got)
	}
	if got := rrs(sc, "spftimeout.example.net.", dns.TypeTXT); len(got) != 1 {
		t.Errorf("spftimeout TXT: %v", got)
	}
	// ...unless the name has a TXT entry of its own.
	sc, _ = find(t, scs, "multispf2")
	if got := rrs(sc, "example8.com.", dns.TypeTXT); len(got) != 1 || got[0].(*dns.TXT).Txt[0] != "v=spf1 +all" {
		t.Errorf("example8.com TXT: %v", got)
	}
	if got := rrs(sc, "example8.com.", dns.TypeSPF); len(got) != 2 {
		t.Errorf("example8.com SPF: %v", got)
	}
	// TIMEOUT: every type without records before it.
	sc, _ = find(t, scs, "txttimeout")
	if !slices.Contains(sc.Rules, Rule{"txttimeout.example.net.", dns.TypeANY, ActionTimeout}) {
		t.Errorf("rules %v", sc.Rules)
	}
	// A list is one record with several strings; an empty list one with none.
	sc, _ = find(t, scs, "null-text")
	got := rrs(sc, "null.example.com.", dns.TypeTXT)
	if len(got) != 2 || !slices.Equal(got[0].(*dns.TXT).Txt, []string{"v=spf1 ip4:", "192.0.2.5 -all"}) || len(got[1].(*dns.TXT).Txt) != 0 {
		t.Errorf("null.example.com: %v", got)
	}
	// Owner names are lower case; data keep theirs.
	sc, _ = find(t, scs, "ptr-case-change")
	if got := rrs(sc, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", dns.TypePTR); len(got) != 1 || got[0].(*dns.PTR).Ptr != "mail.Example.com." {
		t.Errorf("PTR: %v", got)
	}
	// \xNN escapes are bytes, in presentation form.
	sc, _ = find(t, scs, "non-ascii-policy")
	if got := rrs(sc, "hosed.example.com.", dns.TypeTXT); len(got) != 1 || got[0].(*dns.TXT).Txt[0] != `v=spf1 a:\239\187\191garbage.example.net -all` {
		t.Errorf("hosed: %v", got)
	}
	// Names that need escaping; a null MX.
	sc, _ = find(t, scs, "macro-mania-in-domain")
	if got := rrs(sc, `macro%percent\ \ space%20url-space.example.com.`, dns.TypeA); len(got) != 1 {
		t.Errorf("escaped name not found")
	}
	sc, _ = find(t, scs, "mx-empty")
	if got := rrs(sc, "mail.example.com.", dns.TypeMX); len(got) != 1 || got[0].(*dns.MX).Mx != "." {
		t.Errorf("null MX: %v", got)
	}
}

// TestRecordsPack checks that every record survives the wire, so that a
// DNS server can serve it.
func TestRecordsPack(t *testing.T) {
	for _, sc := range load(t) {
		for _, rr := range sc.Records {
			m := new(dns.Msg)
			m.SetQuestion(rr.Header().Name, rr.Header().Rrtype)
			m.Answer = []dns.RR{rr}
			wire, err := m.Pack()
			if err != nil {
				t.Errorf("pack %v: %v", rr, err)
				continue
			}
			var back dns.Msg
			if err := back.Unpack(wire); err != nil {
				t.Errorf("unpack %v: %v", rr, err)
				continue
			}
			if len(back.Answer) != 1 || !dns.IsDuplicate(back.Answer[0], rr) && !emptyTXT(rr) {
				t.Errorf("round trip %v → %v", rr, back.Answer)
			}
		}
	}
}

// emptyTXT: a TXT record without strings comes back with none, or one empty one.
func emptyTXT(rr dns.RR) bool {
	switch rr := rr.(type) {
	case *dns.TXT:
		return len(rr.Txt) == 0
	case *dns.SPF:
		return len(rr.Txt) == 0
	}
	return false
}
