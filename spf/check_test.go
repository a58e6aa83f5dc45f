package spf_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"spamgate/internal/spfsuite"
	"spamgate/spf"
)

// appendixA is the zone of RFC 7208 Appendix A.
const appendixA = `
$ORIGIN example.com.
@       MX  10 mail-a
        MX  20 mail-b
        A   192.0.2.10
        A   192.0.2.11
amy     A   192.0.2.65
bob     A   192.0.2.66
mail-a  A   192.0.2.129
mail-b  A   192.0.2.130
www     CNAME example.com.
$ORIGIN example.org.
@       MX  10 mail-c
mail-c  A   192.0.2.140
$ORIGIN 2.0.192.in-addr.arpa.
10      PTR example.com.
11      PTR example.com.
65      PTR amy.example.com.
66      PTR bob.example.com.
129     PTR mail-a.example.com.
130     PTR mail-b.example.com.
140     PTR mail-c.example.org.
$ORIGIN 0.0.10.in-addr.arpa.
4       PTR bob.example.com.
`

// zoneResolver builds an in-memory resolver from zone-file text.
func zoneResolver(t *testing.T, zones ...string) *memResolver {
	t.Helper()
	var sc spfsuite.Scenario
	zp := dns.NewZoneParser(strings.NewReader(strings.Join(zones, "\n")), ".", "")
	zp.SetDefaultTTL(300)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		sc.Records = append(sc.Records, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	return newMemResolver(sc)
}

// withSPF publishes record as the TXT record of example.com.
func withSPF(record string) string {
	return "example.com. TXT \"" + record + "\""
}

func check(t *testing.T, r spf.Resolver, ip, sender string) spf.Outcome {
	t.Helper()
	return spf.Check(t.Context(), r, spf.Request{
		IP: netip.MustParseAddr(ip), Helo: "helo.example.net", Sender: sender, Receiver: "mx.example.net",
	})
}

// TestAppendixA1 runs the simple examples of RFC 7208 Appendix A.1.
func TestAppendixA1(t *testing.T) {
	tests := []struct {
		record string
		pass   []string
		fail   []string
	}{
		{"v=spf1 +all", []string{"192.0.2.10", "10.0.0.4", "2001:db8::1"}, nil},
		{"v=spf1 a -all", []string{"192.0.2.10", "192.0.2.11"}, []string{"192.0.2.12", "192.0.2.65"}},
		{"v=spf1 a:example.org -all", nil, []string{"192.0.2.10", "192.0.2.140"}},
		{"v=spf1 mx -all", []string{"192.0.2.129", "192.0.2.130"}, []string{"192.0.2.10", "192.0.2.140"}},
		{"v=spf1 mx:example.org -all", []string{"192.0.2.140"}, []string{"192.0.2.129"}},
		{"v=spf1 mx mx:example.org -all", []string{"192.0.2.129", "192.0.2.130", "192.0.2.140"}, []string{"192.0.2.10"}},
		{"v=spf1 mx/30 mx:example.org/30 -all", []string{"192.0.2.128", "192.0.2.131", "192.0.2.140", "192.0.2.143"}, []string{"192.0.2.132", "192.0.2.144"}},
		{"v=spf1 ptr -all", []string{"192.0.2.65"}, []string{"192.0.2.140", "10.0.0.4"}},
		{"v=spf1 ip4:192.0.2.128/28 -all", []string{"192.0.2.129"}, []string{"192.0.2.65"}},
	}
	for _, tc := range tests {
		r := zoneResolver(t, appendixA, withSPF(tc.record))
		for _, ip := range tc.pass {
			if o := check(t, r, ip, "user@example.com"); o.Result != spf.Pass {
				t.Errorf("%q from %s: %s (%s), want pass", tc.record, ip, o.Result, o.Reason)
			}
		}
		for _, ip := range tc.fail {
			if o := check(t, r, ip, "user@example.com"); o.Result != spf.Fail {
				t.Errorf("%q from %s: %s (%s), want fail", tc.record, ip, o.Result, o.Reason)
			}
		}
	}
}

// TestAppendixA3 runs the DNSBL-style example of RFC 7208 Appendix A.3.
func TestAppendixA3(t *testing.T) {
	r := zoneResolver(t, appendixA, `
example.com. TXT "v=spf1 mx include:mobile-users._spf.%{d} include:remote-users._spf.%{d} -all"
mobile-users._spf.example.com. TXT "v=spf1 exists:%{l1r+}.%{d}"
remote-users._spf.example.com. TXT "v=spf1 exists:%{ir}.%{l1r+}.%{d}"
mary.mobile-users._spf.example.com. A 127.0.0.2
fred.mobile-users._spf.example.com. A 127.0.0.2
15.15.168.192.joel.remote-users._spf.example.com. A 127.0.0.2
16.15.168.192.joel.remote-users._spf.example.com. A 127.0.0.2
`)
	tests := []struct {
		ip, sender string
		want       spf.Result
	}{
		{"192.0.2.129", "anyone@example.com", spf.Pass}, // mx
		{"203.0.113.9", "mary@example.com", spf.Pass},
		{"203.0.113.9", "fred+news@example.com", spf.Pass},
		{"192.168.15.15", "joel@example.com", spf.Pass},
		{"192.168.15.16", "joel+x@example.com", spf.Pass},
		{"192.168.15.17", "joel@example.com", spf.Fail},
		{"203.0.113.9", "mallory@example.com", spf.Fail},
	}
	for _, tc := range tests {
		if o := check(t, r, tc.ip, tc.sender); o.Result != tc.want {
			t.Errorf("%s from %s: %s (%s), want %s", tc.sender, tc.ip, o.Result, o.Reason, tc.want)
		}
	}
}

// TestAppendixA4 runs the examples of RFC 7208 Appendix A.4.
func TestAppendixA4(t *testing.T) {
	r := zoneResolver(t, appendixA, withSPF("v=spf1 -ip4:192.0.2.0/24 +all"))
	if o := check(t, r, "192.0.2.1", "a@example.com"); o.Result != spf.Fail {
		t.Errorf("192.0.2.1: %s", o.Result)
	}
	if o := check(t, r, "10.0.0.1", "a@example.com"); o.Result != spf.Pass {
		t.Errorf("10.0.0.1: %s", o.Result)
	}
	r = zoneResolver(t, appendixA, withSPF("v=spf1 -ptr +all"))
	if o := check(t, r, "192.0.2.65", "a@example.com"); o.Result != spf.Fail {
		t.Errorf("192.0.2.65 (amy.example.com): %s", o.Result)
	}
	if o := check(t, r, "10.0.0.4", "a@example.com"); o.Result != spf.Pass {
		t.Errorf("10.0.0.4 (claims bob.example.com): %s", o.Result)
	}
}

// TestOutcome checks the fields of Outcome beyond the result.
func TestOutcome(t *testing.T) {
	r := zoneResolver(t, appendixA, `
example.com. TXT "v=spf1 a mx include:_spf.example.org -all exp=why.%{d}"
why.example.com. TXT "%{c} is not one of %{o}'s servers (%{r}, %{h})"
_spf.example.org. TXT "v=spf1 ip4:198.51.100.0/24 -all"
`)
	o := check(t, r, "198.51.100.7", "user@example.com")
	want := spf.Outcome{Result: spf.Pass, Identity: "mailfrom", Domain: "example.com", Mechanism: "include:_spf.example.org", Lookups: 3}
	if o != want {
		t.Errorf("pass: got %+v, want %+v", o, want)
	}
	o = check(t, r, "2001:db8::7", "user@example.com")
	want = spf.Outcome{
		Result: spf.Fail, Identity: "mailfrom", Domain: "example.com", Mechanism: "-all", Lookups: 3,
		Explanation: "2001:db8::7 is not one of example.com's servers (mx.example.net, helo.example.net)",
	}
	if o != want {
		t.Errorf("fail: got %+v, want %+v", o, want)
	}
	// Null sender: the HELO identity, postmaster@<helo> (2.4).
	r = zoneResolver(t, `mx1.example.net. TXT "v=spf1 exists:%{l}.%{h}.x.example -all"
postmaster.mx1.example.net.x.example. A 127.0.0.2`)
	o = spf.Check(t.Context(), r, spf.Request{IP: netip.MustParseAddr("192.0.2.1"), Helo: "mx1.example.net"})
	if o.Result != spf.Pass || o.Identity != "helo" || o.Domain != "mx1.example.net" {
		t.Errorf("null sender: %+v", o)
	}
	// No record; a record only of type SPF (99) is not consulted (3.1, 4.5).
	r = zoneResolver(t, `example.com. SPF "v=spf1 +all"`)
	if o := check(t, r, "192.0.2.1", "a@example.com"); o.Result != spf.None || o.Reason == "" {
		t.Errorf("SPF type 99 only: %+v", o)
	}
	// Neutral by default (4.7).
	r = zoneResolver(t, withSPF("v=spf1 ip4:192.0.2.1"))
	if o := check(t, r, "192.0.2.2", "a@example.com"); o.Result != spf.Neutral || o.Mechanism != "default" {
		t.Errorf("default: %+v", o)
	}
}

// TestIPv4Mapped: an IPv4-mapped client is IPv4 (5, 4.6).
func TestIPv4Mapped(t *testing.T) {
	r := zoneResolver(t, appendixA, withSPF("v=spf1 a ip6:::ffff:0:0/96 -all"))
	if o := check(t, r, "::ffff:192.0.2.10", "a@example.com"); o.Result != spf.Pass || o.Mechanism != "a" {
		t.Errorf("mapped: %+v", o)
	}
	if o := check(t, r, "::ffff:192.0.2.99", "a@example.com"); o.Result != spf.Fail {
		t.Errorf("mapped, not listed: %+v", o)
	}
}

// TestExplanationOnlyForFail: exp= is fetched for fail only, and problems with
// it are ignored (6.2).
func TestExplanationOnlyForFail(t *testing.T) {
	tests := []struct {
		record, explanation string
		want                spf.Result
	}{
		{"v=spf1 ~all exp=why.example.com", "", spf.SoftFail},
		{"v=spf1 -all exp=why.example.com", "see %{d}", spf.Fail},
		{"v=spf1 -all exp=none.example.com", "", spf.Fail},
		{"v=spf1 -all exp=bad.example.com", "", spf.Fail},
		{"v=spf1 -all exp=timeout.example.com", "", spf.Fail},
	}
	for _, tc := range tests {
		r := zoneResolver(t, withSPF(tc.record), `why.example.com. TXT "see %{d}"
bad.example.com. TXT "100%"`)
		r.timeouts["timeout.example.com"] = []uint16{dns.TypeANY}
		cr := &countingResolver{Resolver: r}
		o := check(t, cr, "192.0.2.1", "a@example.com")
		wantExp := strings.ReplaceAll(tc.explanation, "%{d}", "example.com")
		if o.Result != tc.want || o.Explanation != wantExp {
			t.Errorf("%q: %+v, want %s %q", tc.record, o, tc.want, wantExp)
		}
		if tc.want != spf.Fail && cr.count("TXT") != 1 {
			t.Errorf("%q: %d TXT lookups, want only the record's", tc.record, cr.count("TXT"))
		}
	}
}

// TestParseBeforeEvaluation: a syntax error anywhere gives permerror without
// any lookup of the record's terms (4.6).
func TestParseBeforeEvaluation(t *testing.T) {
	r := &countingResolver{Resolver: zoneResolver(t, appendixA, withSPF("v=spf1 a mx ip4:192.0.2.10 -all ip6"))}
	o := check(t, r, "192.0.2.10", "a@example.com")
	if o.Result != spf.PermError || !strings.Contains(o.Reason, "ip6") {
		t.Errorf("got %+v", o)
	}
	if n := r.total(); n != 1 {
		t.Errorf("%d lookups, want 1 (the TXT record)", n)
	}
}

// TestLimits checks the limits of 4.6.4.
func TestLimits(t *testing.T) {
	tests := []struct {
		name, zone, ip string
		want           spf.Result
		reason         string
	}{
		{"10 terms", withSPF("v=spf1 a a a a a a a a a a ip4:192.0.2.1 -all"), "192.0.2.1", spf.Pass, ""},
		{"11 terms", withSPF("v=spf1 a a a a a a a a a a a ip4:192.0.2.1 -all"), "192.0.2.1", spf.PermError, "DNS lookup limit (10) exceeded"},
		{"2 void", withSPF("v=spf1 a:no1.example.com a:no2.example.com ?all"), "192.0.2.1", spf.Neutral, ""},
		{"3 void", withSPF("v=spf1 a:no1.example.com a:no2.example.com exists:no3.example.com ?all"), "192.0.2.1", spf.PermError, "void lookup limit (2) exceeded"},
		{"11 MX", withSPF("v=spf1 mx:many.example.com -all") + "\n" + mxLines(11), "192.0.2.1", spf.PermError, "more than 10"},
		{"10 MX", withSPF("v=spf1 mx:many.example.com -all") + "\n" + mxLines(10), "192.0.2.1", spf.Pass, ""},
		{"null MX", withSPF("v=spf1 mx -all") + "\nexample.com. MX 0 .", "192.0.2.1", spf.Fail, ""},
		{"11 PTR", withSPF("v=spf1 ptr -all") + "\n" + ptrLines(11), "192.0.2.1", spf.Fail, ""},
		{"10 PTR", withSPF("v=spf1 ptr -all") + "\n" + ptrLines(10), "192.0.2.1", spf.Pass, ""},
	}
	for _, tc := range tests {
		r := zoneResolver(t, tc.zone, "example.com. A 192.0.2.99")
		o := check(t, r, tc.ip, "a@example.com")
		if o.Result != tc.want || !strings.Contains(o.Reason, tc.reason) {
			t.Errorf("%s: %+v, want %s %q", tc.name, o, tc.want, tc.reason)
		}
	}
}

// mxLines gives many.example.com n MX hosts, the last one being 192.0.2.1.
func mxLines(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString("many.example.com. MX " + itoa(i) + " h" + itoa(i) + ".example.com.\n")
		ip := "192.0.2.2"
		if i == n {
			ip = "192.0.2.1"
		}
		b.WriteString("h" + itoa(i) + ".example.com. A " + ip + "\n")
	}
	return b.String()
}

// ptrLines gives 192.0.2.1 n PTR names of which only the last is in example.com.
func ptrLines(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		name := "p" + itoa(i) + ".example.net."
		if i == n {
			name = "p" + itoa(i) + ".example.com."
		}
		b.WriteString("1.2.0.192.in-addr.arpa. PTR " + name + "\n" + name + " A 192.0.2.1\n")
	}
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestErrors: DNS trouble gives temperror (4.4), a target without a record
// permerror (5.2, 6.1).
func TestErrors(t *testing.T) {
	r := zoneResolver(t, appendixA, withSPF("v=spf1 a:slow.example.com -all"))
	r.timeouts["slow.example.com"] = []uint16{dns.TypeANY}
	if o := check(t, r, "192.0.2.1", "a@example.com"); o.Result != spf.TempError {
		t.Errorf("timeout: %+v", o)
	}
	var broken brokenResolver
	if o := check(t, broken, "192.0.2.1", "a@example.com"); o.Result != spf.TempError {
		t.Errorf("non-DNS error: %+v", o)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r = zoneResolver(t, appendixA, withSPF("v=spf1 ptr -all"))
	o := spf.Check(ctx, cancelAware{r}, spf.Request{IP: netip.MustParseAddr("192.0.2.65"), Sender: "a@example.com"})
	if o.Result != spf.TempError {
		t.Errorf("cancelled: %+v", o)
	}
	for _, rec := range []string{"v=spf1 include:nowhere.example.com -all", "v=spf1 redirect=nowhere.example.com"} {
		r := zoneResolver(t, withSPF(rec))
		if o := check(t, r, "192.0.2.1", "a@example.com"); o.Result != spf.PermError {
			t.Errorf("%q: %+v", rec, o)
		}
	}
}

// TestIncludeResults checks the table of 5.2.
func TestIncludeResults(t *testing.T) {
	tests := map[string]spf.Result{
		"v=spf1 +all":       spf.Pass,      // match: -include gives fail
		"v=spf1 -all":       spf.Neutral,   // no match: ?all
		"v=spf1 ~all":       spf.Neutral,   // no match
		"v=spf1 ?all":       spf.Neutral,   // no match
		"v=spf1 include":    spf.PermError, // permerror
		"not an SPF record": spf.PermError, // none
	}
	for inner, want := range tests {
		r := zoneResolver(t, withSPF("v=spf1 -include:inner.example.com ?all"), `inner.example.com. TXT "`+inner+`"`)
		o := check(t, r, "192.0.2.1", "a@example.com")
		if want == spf.Pass {
			want = spf.Fail
		}
		if o.Result != want {
			t.Errorf("include of %q: %+v, want %s", inner, o, want)
		}
	}
}

// countingResolver counts lookups by type.
type countingResolver struct {
	spf.Resolver
	mu sync.Mutex
	n  map[string]int
}

func (c *countingResolver) add(t string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[t]++
}

func (c *countingResolver) count(t string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[t]
}

func (c *countingResolver) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.n {
		n += v
	}
	return n
}

func (c *countingResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	c.add("TXT")
	return c.Resolver.LookupTXT(ctx, name)
}

func (c *countingResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	c.add("MX")
	return c.Resolver.LookupMX(ctx, name)
}

func (c *countingResolver) LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	c.add(network)
	return c.Resolver.LookupIP(ctx, network, host)
}

func (c *countingResolver) LookupAddr(ctx context.Context, addr netip.Addr) ([]string, error) {
	c.add("PTR")
	return c.Resolver.LookupAddr(ctx, addr)
}

// brokenResolver fails every lookup with an error that is not a *net.DNSError.
type brokenResolver struct{}

var errBroken = errors.New("resolver broken")

func (brokenResolver) LookupTXT(context.Context, string) ([]string, error) { return nil, errBroken }
func (brokenResolver) LookupMX(context.Context, string) ([]*net.MX, error) { return nil, errBroken }
func (brokenResolver) LookupIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, errBroken
}
func (brokenResolver) LookupAddr(context.Context, netip.Addr) ([]string, error) {
	return nil, errBroken
}

// cancelAware answers TXT lookups but fails the others once ctx is done, as
// a real resolver would.
type cancelAware struct{ *memResolver }

func (c cancelAware) LookupAddr(ctx context.Context, addr netip.Addr) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.memResolver.LookupAddr(ctx, addr)
}
