package dnsbl

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseCodes(t *testing.T) {
	tests := []struct {
		name  string
		codes []string
		in    []string // accepted answers
		out   []string // refused answers
		str   string
	}{
		{"default", nil,
			[]string{"127.0.0.2", "127.0.0.1", "127.1.2.3", "127.255.254.255"},
			[]string{"127.255.255.0", "127.255.255.254", "10.0.0.2", "::1"},
			"127.0.0.0/8 except 127.255.255.0/24"},
		{"single", []string{"127.0.0.2"},
			[]string{"127.0.0.2", "::ffff:127.0.0.2"}, []string{"127.0.0.3", "127.0.0.1"},
			"127.0.0.2"},
		{"range zen", []string{"127.0.0.2-127.0.0.11"},
			[]string{"127.0.0.2", "127.0.0.4", "127.0.0.11"}, []string{"127.0.0.1", "127.0.0.12", "127.0.1.2"},
			"127.0.0.2-127.0.0.11"},
		{"range with spaces", []string{" 127.0.0.2 - 127.0.0.3 "},
			[]string{"127.0.0.3"}, []string{"127.0.0.4"}, "127.0.0.2-127.0.0.3"},
		{"one-address range", []string{"127.0.0.5-127.0.0.5"},
			[]string{"127.0.0.5"}, []string{"127.0.0.4"}, "127.0.0.5"},
		{"cidr /24", []string{"127.0.0.0/24"},
			[]string{"127.0.0.0", "127.0.0.255"}, []string{"127.0.1.0"}, "127.0.0.0-127.0.0.255"},
		{"cidr /30", []string{"127.0.1.4/30"},
			[]string{"127.0.1.4", "127.0.1.7"}, []string{"127.0.1.3", "127.0.1.8"}, "127.0.1.4-127.0.1.7"},
		{"cidr /32", []string{"127.0.0.10/32"}, []string{"127.0.0.10"}, []string{"127.0.0.11"}, "127.0.0.10"},
		{"cidr /8 overlaps blocked", []string{"127.0.0.0/8"},
			[]string{"127.255.255.254"}, nil, "127.0.0.0-127.255.255.255"},
		{"several", []string{"127.0.0.2", "127.0.0.10-127.0.0.11", "127.0.1.0/24"},
			[]string{"127.0.0.2", "127.0.0.10", "127.0.1.200"}, []string{"127.0.0.3", "127.0.0.12"},
			"127.0.0.2,127.0.0.10-127.0.0.11,127.0.1.0-127.0.1.255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseCodes(tt.codes)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range tt.in {
				if !s.Contains(netip.MustParseAddr(a)) {
					t.Errorf("%s not accepted", a)
				}
			}
			for _, a := range tt.out {
				if s.Contains(netip.MustParseAddr(a)) {
					t.Errorf("%s accepted", a)
				}
			}
			if got := s.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
		})
	}
}

func TestParseCodesErrors(t *testing.T) {
	tests := []struct {
		name, bad, want string
	}{
		{"empty element", "", "ParseAddr"},
		{"garbage", "listed", "ParseAddr"},
		{"postscreen syntax", "127.0.0.[2..11]", "ParseAddr"},
		{"ipv6 code", "::1", "not an IPv4 address"},
		{"mapped code", "::ffff:127.0.0.2", "not an IPv4 address"},
		{"outside 127/8", "10.0.0.2", "127.0.0.0/8"},
		{"range leaves 127/8", "127.255.255.250-128.0.0.1", "127.0.0.0/8"},
		{"reversed range", "127.0.0.11-127.0.0.2", "ends before it starts"},
		{"half range", "127.0.0.2-", "ParseAddr"},
		{"blocked code", "127.255.255.254", "query blocked"},
		{"blocked prefix", "127.255.255.0/24", "query blocked"},
		{"host bits", "127.0.0.2/24", "did you mean 127.0.0.0/24"},
		{"bad prefix length", "127.0.0.0/33", "ParsePrefix"},
		{"ipv6 prefix", "::/0", "not an IPv4 prefix"},
		{"prefix wider than 127/8", "0.0.0.0/0", "127.0.0.0/8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCodes([]string{"127.0.0.2", tt.bad})
			if err == nil {
				t.Fatalf("ParseCodes(%q) succeeded", tt.bad)
			}
			// The error must name the element so that config errors point at it.
			if !strings.Contains(err.Error(), `"`+tt.bad+`"`) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to quote %q and say %q", err, tt.bad, tt.want)
			}
		})
	}
}

// FuzzParseCodes checks the safety property: whatever the config says, a
// "query blocked" answer never classifies as Listed.
func FuzzParseCodes(f *testing.F) {
	for _, s := range []string{"127.0.0.2", "127.0.0.2-127.0.0.11", "127.0.0.0/24,127.0.1.1",
		"127.0.0.0/8", "127.255.255.254", "10.0.0.0/8", "::1", "127.0.0.2/24", " - ", ""} {
		f.Add(s)
	}
	blocked := parseAddrs("127.255.255.0", "127.255.255.254", "127.255.255.255", "0.0.0.0", "192.0.2.1")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseCodes(strings.Split(in, ","))
		if err != nil {
			return
		}
		for _, r := range s.ranges {
			if !r.lo.Is4() || r.hi.Less(r.lo) || !loopbackNet.Contains(r.lo) || !loopbackNet.Contains(r.hi) {
				t.Fatalf("%q: bad range %v", in, r)
			}
		}
		for _, a := range blocked {
			if st := classify([]netip.Addr{netip.MustParseAddr("127.0.0.2"), a}, s); st != Blocked {
				t.Fatalf("%q: answer %v classified %v", in, a, st)
			}
		}
		again, err := ParseCodes(strings.Split(s.String(), ","))
		if err != nil || again.String() != s.String() {
			t.Fatalf("%q: String %q does not round-trip: %v", in, s.String(), err)
		}
	})
}
