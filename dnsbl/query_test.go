package dnsbl

import (
	"net/netip"
	"strings"
	"testing"
)

func TestQueryName(t *testing.T) {
	zeros31 := strings.Repeat("0.", 31)
	tests := []struct {
		name, ip, zone, want string
	}{
		{"ipv4", "192.0.2.99", "bl.example", "99.2.0.192.bl.example"},
		{"ipv4 test point", "127.0.0.2", "zen.example", "2.0.0.127.zen.example"},
		{"ipv4 edges", "255.0.10.1", "z", "1.10.0.255.z"},
		{"ipv4-mapped", "::ffff:192.0.2.99", "bl.example", "99.2.0.192.bl.example"},
		{"ipv6 rfc 5782 example", "2001:db8:1:2:3:4:567:89ab", "ugly.example.com",
			"b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com"},
		{"ipv6 loopback", "::1", "bl.example", "1." + zeros31 + "bl.example"},
		{"ipv6 unspecified", "::", "z", strings.Repeat("0.", 32) + "z"},
		{"ipv6 zone index ignored", "fe80::1%eth0", "z", "1." + zeros31[:2*27] + "0.8.e.f.z"},
		{"ipv6 all f", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "z", strings.Repeat("f.", 32) + "z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := QueryName(netip.MustParseAddr(tt.ip), tt.zone)
			if got != tt.want {
				t.Errorf("QueryName(%s, %s)\n got %s\nwant %s", tt.ip, tt.zone, got, tt.want)
			}
		})
	}
}

func TestQueryNameInvalid(t *testing.T) {
	if got := QueryName(netip.Addr{}, "bl.example"); got != "" {
		t.Errorf("QueryName(invalid) = %q, want empty", got)
	}
}

func TestQueryNameIPv6Length(t *testing.T) {
	// 32 nibbles, each with its dot: the prefix that maxZoneLen allows for.
	if got := len(appendReversed(nil, netip.MustParseAddr("2001:db8::1"))); got != 64 {
		t.Errorf("IPv6 prefix length = %d, want 64", got)
	}
}
