package iprev

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"spamgate/dnsx"
	"spamgate/dnsx/dnstest"
)

var words = []string{"dyn", "dsl", "pool", "dialup", "cable", "dhcp"}

// zone: every reverse case RFC 8601 section 3 distinguishes.
const zone = `
$ORIGIN test.
$TTL 300
mail.good.test.           A    192.0.2.10
10.2.0.192.in-addr.arpa.  PTR  mail.good.test.
11.2.0.192.in-addr.arpa.  PTR  forged.good.test.
forged.good.test.         A    192.0.2.99
12.2.0.192.in-addr.arpa.  PTR  nowhere.good.test.
13.2.0.192.in-addr.arpa.  PTR  other.good.test.
13.2.0.192.in-addr.arpa.  PTR  mx13.good.test.
mx13.good.test.           A    192.0.2.13
14.2.0.192.in-addr.arpa.  PTR  dsl-192-0-2-14.dyn.isp.test.
dsl-192-0-2-14.dyn.isp.test. A 192.0.2.14
15.2.0.192.in-addr.arpa.  PTR  slow.good.test.
1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. PTR mail6.good.test.
mail6.good.test.          AAAA 2001:db8::1
`

func TestCheck(t *testing.T) {
	z := dnstest.NewZone()
	if err := z.AddText(zone); err != nil {
		t.Fatal(err)
	}
	z.ServFail("slow.good.test", dns.TypeA)
	z.ServFail("16.2.0.192.in-addr.arpa", dns.TypePTR)
	srv := dnstest.Start(t, z)
	r, err := dnsx.New(dnsx.Config{Nameservers: []string{srv.Addr}, Timeout: time.Second, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr string
		want Result
	}{
		{"192.0.2.10", Result{Status: Pass, Name: "mail.good.test"}},
		{"::ffff:192.0.2.10", Result{Status: Pass, Name: "mail.good.test"}},
		{"192.0.2.11", Result{Status: Fail, Name: "forged.good.test"}},
		{"192.0.2.12", Result{Status: Fail, Name: "nowhere.good.test"}},
		{"192.0.2.13", Result{Status: Pass, Name: "mx13.good.test"}},
		{"192.0.2.14", Result{Status: Pass, Name: "dsl-192-0-2-14.dyn.isp.test", Dynamic: "address in name"}},
		{"192.0.2.15", Result{Status: TempError, Name: "slow.good.test"}},
		{"192.0.2.16", Result{Status: TempError}},
		{"192.0.2.17", Result{Status: PermError}},
		{"2001:db8::1", Result{Status: Pass, Name: "mail6.good.test"}},
	} {
		got := Check(context.Background(), r, netip.MustParseAddr(tc.addr), words)
		if got != tc.want {
			t.Errorf("Check(%s) = %+v, want %+v", tc.addr, got, tc.want)
		}
	}
}

func TestDynamic(t *testing.T) {
	for _, tc := range []struct {
		name, addr, want string
	}{
		{"mail.example.com", "192.0.2.7", ""},
		{"dsl-192-0-2-7.example.net", "192.0.2.7", "address in name"},
		{"7-2-0-192.rev.example.net", "192.0.2.7", "address in name"},
		{"host7.2.example.net", "192.0.2.7", "address in name"},
		{"c0000207.example.net", "192.0.2.7", "address in name"},
		{"adsl42.pool.example.net.", "192.0.2.7", `word "pool" in name`},
		{"CABLE-modem.Example.NET", "192.0.2.7", `word "cable" in name`},
		{"mx.cable.example", "192.0.2.7", ""},   // the provider's own domain
		{"dynamo.example.com", "192.0.2.7", ""}, // a word must be a whole part
		{"mail27.example.com", "192.0.2.7", ""}, // one octet is not enough
		{"mx2-7.example.com", "198.51.2.7", "address in name"},
		{"", "192.0.2.7", ""},
		{"dyn.example.com", "2001:db8::1", `word "dyn" in name`},
		{"example.com", "2001:db8::1", ""},
		{"a.dyn.example.com", "2001:db8::1", `word "dyn" in name`},
	} {
		if got := Dynamic(tc.name, netip.MustParseAddr(tc.addr), words); got != tc.want {
			t.Errorf("Dynamic(%q, %s) = %q, want %q", tc.name, tc.addr, got, tc.want)
		}
	}
}

func FuzzDynamic(f *testing.F) {
	f.Add("dsl-192-0-2-7.example.net", "192.0.2.7")
	f.Add("c0000207.example.net.", "::1")
	f.Fuzz(func(t *testing.T, name, addr string) {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return
		}
		Dynamic(name, a, words)
	})
}
