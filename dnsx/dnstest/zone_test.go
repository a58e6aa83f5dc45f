package dnstest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const testZone = `$ORIGIN example.test.
$TTL 300
@        IN MX    10 mx
mx       IN A     192.0.2.1
alias    IN CNAME mx
loop1    IN CNAME loop2
loop2    IN CNAME loop1
dangling IN CNAME nowhere.test.
a.b.c    IN TXT   "deep"
MiXeD    IN A     192.0.2.2
sp\032ace IN TXT  "space"
slow     IN A     192.0.2.3
`

func newTestZone(t *testing.T) *Zone {
	t.Helper()
	z := NewZone()
	if err := z.AddText(testZone); err != nil {
		t.Fatal(err)
	}
	z.Timeout("slow.example.test", dns.TypeA)      // records win: never applies
	z.Timeout("slow.example.test", dns.TypeAAAA)   // no AAAA: applies
	z.ServFail("broken.example.test", dns.TypeANY) // every type
	z.Timeout("mx.example.test", dns.TypeTXT)
	return z
}

func TestZoneLookup(t *testing.T) {
	z := newTestZone(t)
	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		act     action
		rcode   int
		answers int
		soa     bool
	}{
		{"records", "mx.example.test.", dns.TypeA, actAnswer, dns.RcodeSuccess, 1, false},
		{"case-insensitive", "mixed.EXAMPLE.test.", dns.TypeA, actAnswer, dns.RcodeSuccess, 1, false},
		{"escaped name", `sp\ ace.example.test.`, dns.TypeTXT, actAnswer, dns.RcodeSuccess, 1, false},
		{"cname chased", "alias.example.test.", dns.TypeA, actAnswer, dns.RcodeSuccess, 2, false},
		{"cname asked", "alias.example.test.", dns.TypeCNAME, actAnswer, dns.RcodeSuccess, 1, false},
		{"cname to nodata", "alias.example.test.", dns.TypeAAAA, actAnswer, dns.RcodeSuccess, 1, true},
		{"cname to nxdomain", "dangling.example.test.", dns.TypeA, actAnswer, dns.RcodeNameError, 1, true},
		{"cname loop", "loop1.example.test.", dns.TypeA, actServFail, 0, 0, false},
		{"cname to timeout", "alias.example.test.", dns.TypeTXT, actTimeout, 0, 0, false},
		{"nodata", "mx.example.test.", dns.TypeAAAA, actAnswer, dns.RcodeSuccess, 0, true},
		{"empty non-terminal", "b.c.example.test.", dns.TypeTXT, actAnswer, dns.RcodeSuccess, 0, true},
		{"nxdomain", "nope.example.test.", dns.TypeA, actAnswer, dns.RcodeNameError, 0, true},
		{"records beat rule", "slow.example.test.", dns.TypeA, actAnswer, dns.RcodeSuccess, 1, false},
		{"timeout rule", "slow.example.test.", dns.TypeAAAA, actTimeout, 0, 0, false},
		{"type rule only", "slow.example.test.", dns.TypeMX, actAnswer, dns.RcodeSuccess, 0, true},
		{"any rule", "broken.example.test.", dns.TypeMX, actServFail, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := z.lookup(lowerASCII(tt.qname), tt.qtype)
			if rep.act != tt.act || rep.rcode != tt.rcode || len(rep.answer) != tt.answers {
				t.Fatalf("got act %d rcode %d answers %v", rep.act, rep.rcode, rep.answer)
			}
			if gotSOA := len(rep.ns) == 1 && rep.ns[0].Header().Rrtype == dns.TypeSOA; gotSOA != tt.soa {
				t.Fatalf("SOA in authority: got %v, want %v", rep.ns, tt.soa)
			}
		})
	}
}

func TestNegativeTTL(t *testing.T) {
	z := NewZone()
	z.SetNegativeTTL(7 * time.Second)
	soa := z.lookup("nope.", dns.TypeA).ns[0].(*dns.SOA)
	if soa.Hdr.Ttl != 7 || soa.Minttl != 7 || soa.Hdr.Name != "." {
		t.Fatalf("synthesized SOA: %v", soa)
	}
	if err := z.AddText("example.test. 100 IN SOA ns.example.test. h.example.test. 1 2 3 4 5"); err != nil {
		t.Fatal(err)
	}
	soa = z.lookup("a.b.example.test.", dns.TypeA).ns[0].(*dns.SOA)
	if soa.Hdr.Name != "example.test." || soa.Minttl != 5 {
		t.Fatalf("zone SOA not used: %v", soa)
	}
}

func TestAddCopies(t *testing.T) {
	z := NewZone()
	rr := &dns.A{Hdr: dns.RR_Header{Name: "X.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}}
	z.Add(rr)
	rr.Hdr.Ttl = 99
	if got := z.lookup("x.test.", dns.TypeA).answer[0].Header().Ttl; got != 1 {
		t.Fatalf("zone shares the caller's RR: TTL %d", got)
	}
}

func TestAddTextError(t *testing.T) {
	z := NewZone()
	if err := z.AddText("ok.test. 60 IN A 192.0.2.1\nbad.test. 60 IN A not-an-ip\n"); err == nil {
		t.Fatal("no error for a bad record")
	}
	if rep := z.lookup("ok.test.", dns.TypeA); rep.rcode != dns.RcodeNameError {
		t.Fatal("records of a bad text were added")
	}
}

func TestLoadZoneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.test")
	if err := os.WriteFile(path, []byte("$TTL 60\n@ IN TXT \"v=spf1 -all\"\nwww IN A 192.0.2.9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	z, err := LoadZoneFile(path, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	if rep := z.lookup("www.example.test.", dns.TypeA); len(rep.answer) != 1 {
		t.Fatalf("www: %+v", rep)
	}
	if _, err := LoadZoneFile(filepath.Join(t.TempDir(), "missing"), ""); err == nil {
		t.Fatal("no error for a missing file")
	}
}

func TestCanonicalName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Example.TEST", "example.test."},
		{"example.test.", "example.test."},
		{`a\032b.test.`, `a\ b.test.`},
		{"a b.test", `a\ b.test.`},
		{`\065.test.`, "a.test."},
		{"%.test", "%.test."},
	}
	for _, tt := range tests {
		if got := canonicalName(tt.in); got != tt.want {
			t.Errorf("canonicalName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A wildcard answers names the zone does not have, below its closest
// encloser, with the asked name as owner; existing names (even empty
// non-terminals) and other types are not covered by it.
func TestZoneWildcard(t *testing.T) {
	z := NewZone()
	if err := z.AddText(`$ORIGIN w.test.
$TTL 60
*       TXT "wild"
exists  A   192.0.2.1
x.deep  A   192.0.2.2
`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		rcode   int
		answers int
	}{
		{"synthesized", "anything.w.test.", dns.TypeTXT, dns.RcodeSuccess, 1},
		{"deeper", "a.b.w.test.", dns.TypeTXT, dns.RcodeSuccess, 1},
		{"other type: nodata", "anything.w.test.", dns.TypeA, dns.RcodeSuccess, 0},
		{"existing name", "exists.w.test.", dns.TypeTXT, dns.RcodeSuccess, 0},
		{"empty non-terminal", "deep.w.test.", dns.TypeTXT, dns.RcodeSuccess, 0},
		{"below a non-terminal: its own encloser", "y.deep.w.test.", dns.TypeTXT, dns.RcodeNameError, 0},
		{"outside", "other.test.", dns.TypeTXT, dns.RcodeNameError, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := z.lookup(tt.qname, tt.qtype)
			if rep.rcode != tt.rcode || len(rep.answer) != tt.answers {
				t.Fatalf("rcode %s, %d answers", dns.RcodeToString[rep.rcode], len(rep.answer))
			}
			if tt.answers > 0 && rep.answer[0].Header().Name != tt.qname {
				t.Fatalf("owner %q, want %q", rep.answer[0].Header().Name, tt.qname)
			}
		})
	}
}
