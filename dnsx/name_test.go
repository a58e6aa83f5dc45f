package dnsx

import (
	"net/netip"
	"strings"
	"testing"
)

func TestCanonicalName(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"example.test", "example.test", true},
		{"Mail.Example.TEST.", "mail.example.test", true},
		{"_dmarc.example.test", "_dmarc.example.test", true},
		{".", "", true},
		{"a b.test", `a\ b.test`, true},
		{`a\032b.test`, `a\ b.test`, true},
		{`A\066c.test`, "abc.test", true},
		{"%%.test", "%%.test", true},
		{`a\.b.test`, `a\.b.test`, true},
		{"caf\xc3\xa9.test", `caf\195\169.test`, true},
		{"", "", false},
		{"a..b", "", false},
		{".a", "", false},
		{strings.Repeat("a", 63) + ".test", strings.Repeat("a", 63) + ".test", true},
		{strings.Repeat("a", 64) + ".test", "", false},
		{strings.Repeat("abcdefghi.", 25) + "abc", strings.Repeat("abcdefghi.", 25) + "abc", true}, // 253
		{strings.Repeat("abcdefghi.", 25) + "abcd", "", false},                                     // 254: 256 on the wire
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := canonicalName(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("got %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzCanonicalName checks that the fast path agrees with the wire round
// trip, and that canonical names are fixed points.
func FuzzCanonicalName(f *testing.F) {
	for _, s := range []string{"example.test", "A.B.", `a\032b`, "a b", "a..b", `\`, `a\.`, "\xff.test", strings.Repeat("a", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := canonicalName(s)
		if !ok {
			return
		}
		if isPlain(strings.TrimSuffix(s, ".")) {
			if slow, ok := canonicalSlow(s); !ok || slow != got {
				t.Fatalf("fast path %q, wire round trip %q, %v", got, slow, ok)
			}
		}
		if got == "" {
			return // the root
		}
		if again, ok := canonicalName(got); !ok || again != got {
			t.Fatalf("canonicalName(%q) = %q, %v: not a fixed point", got, again, ok)
		}
	})
}

func TestReverseName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1", "1.2.0.192.in-addr.arpa"},
		{"::ffff:10.0.0.255", "255.0.0.10.in-addr.arpa"},
		{"2001:db8::abcd", "d.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"},
	}
	for _, tt := range tests {
		if got := reverseName(netip.MustParseAddr(tt.in)); got != tt.want {
			t.Errorf("reverseName(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
