package dnsx_test

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"

	"spamgate/dnsx"
)

func TestLookupTXT(t *testing.T) {
	r, _, _ := setup(t)
	tests := []struct {
		name string
		want []string
	}{
		{"example.test", []string{"v=spf1 ip4:192.0.2.0/24 -all"}}, // strings of one record joined
		{"EXAMPLE.test.", []string{"v=spf1 ip4:192.0.2.0/24 -all"}},
		{"escaped.example.test", []string{"q\"b\\x\xff\x00y"}}, // raw bytes, not miekg's escapes
		{"multi.example.test", []string{"one", "two"}},
		{"txtalias.example.test", []string{"v=spf1 ip4:192.0.2.0/24 -all"}}, // via CNAME
		{"sp ace.example.test", []string{"odd name"}},
		{`sp\032ace.example.test`, []string{"odd name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.LookupTXT(context.Background(), tt.name)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLookupMX(t *testing.T) {
	r, _, _ := setup(t)
	tests := []struct {
		name string
		want []net.MX
	}{
		{"example.test", []net.MX{{Host: "mx1.example.test.", Pref: 10}, {Host: "mx2.example.test.", Pref: 20}, {Host: "mx3.example.test.", Pref: 20}}},
		{"nullmx.example.test", []net.MX{{Host: ".", Pref: 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.LookupMX(context.Background(), tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d MX, want %d", len(got), len(tt.want))
			}
			for i, mx := range got {
				if *mx != tt.want[i] {
					t.Errorf("MX %d: got %+v, want %+v", i, *mx, tt.want[i])
				}
			}
		})
	}
}

func TestLookupIP(t *testing.T) {
	r, _, _ := setup(t)
	tests := []struct {
		network, host string
		want          []string
	}{
		{"ip4", "mx1.example.test", []string{"192.0.2.1"}},
		{"ip4", "alias.example.test", []string{"192.0.2.1"}}, // two CNAMEs
		{"ip6", "v6only.example.test", []string{"2001:db8::6"}},
		{"ip", "example.test", []string{"192.0.2.10", "2001:db8::10"}},
		{"ip", "v4only.example.test", []string{"192.0.2.4"}},
		{"ip", "v6only.example.test", []string{"2001:db8::6"}},
		{"ip", "192.0.2.99", []string{"192.0.2.99"}}, // literal, no DNS
		{"ip4", "::ffff:192.0.2.99", []string{"192.0.2.99"}},
		{"ip6", "2001:db8::99", []string{"2001:db8::99"}},
	}
	for _, tt := range tests {
		t.Run(tt.network+" "+tt.host, func(t *testing.T) {
			got, err := r.LookupIP(context.Background(), tt.network, tt.host)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]netip.Addr, len(tt.want))
			for i, s := range tt.want {
				want[i] = netip.MustParseAddr(s)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

func TestLookupAddr(t *testing.T) {
	r, _, _ := setup(t)
	tests := []struct{ addr, want string }{
		{"192.0.2.1", "mx1.example.test."},
		{"::ffff:192.0.2.1", "mx1.example.test."}, // mapped: in-addr.arpa
		{"2001:db8::6", "v6only.example.test."},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got, err := r.LookupAddr(context.Background(), netip.MustParseAddr(tt.addr))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// Callers may do what they like with results: the cache must not see it.
func TestResultsAreCopies(t *testing.T) {
	r, _, _ := setup(t)
	ctx := context.Background()
	txt, _ := r.LookupTXT(ctx, "multi.example.test")
	txt[0] = "changed"
	mx, _ := r.LookupMX(ctx, "example.test")
	mx[0].Host, mx[1] = "changed.", nil
	ips, _ := r.LookupIP(ctx, "ip4", "mx1.example.test")
	ips[0] = netip.IPv6Loopback()

	if txt, _ := r.LookupTXT(ctx, "multi.example.test"); slices.Contains(txt, "changed") {
		t.Error("TXT result shared with the cache")
	}
	if mx, _ := r.LookupMX(ctx, "example.test"); mx[0].Host != "mx1.example.test." || mx[1] == nil {
		t.Error("MX result shared with the cache")
	}
	if ips, _ := r.LookupIP(ctx, "ip4", "mx1.example.test"); ips[0] != netip.MustParseAddr("192.0.2.1") {
		t.Error("IP result shared with the cache")
	}
	if st := r.Stats(); st.CacheHits != 3 {
		t.Errorf("stats %+v: want 3 cache hits", st)
	}
}

// The resolver satisfies the interfaces its users declare.
var _ interface {
	LookupTXT(context.Context, string) ([]string, error)
	LookupMX(context.Context, string) ([]*net.MX, error)
	LookupIP(context.Context, string, string) ([]netip.Addr, error)
	LookupAddr(context.Context, netip.Addr) ([]string, error)
} = (*dnsx.Resolver)(nil)
