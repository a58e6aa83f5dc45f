package greylist

import (
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizeSender(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"<>", ""},
		{"User@Example.COM", "user@example.com"},
		{"<user@example.com>", "user@example.com"},
		{"user+news@example.com", "user@example.com"},
		{"user+a+b@example.com", "user@example.com"},
		{"+only@example.com", "+only@example.com"},
		// BATV, draft-levine-smtp-batv-01: prvs=KDDDSSSSSS=user
		{"prvs=1234abcdef=user@example.com", "user@example.com"},
		{"PRVS=0123456789=User+ext@Example.com", "user@example.com"},
		{"prvs=user=1234abcdef@example.com", "user@example.com"},
		{"prvs=user/1234abcdef@example.com", "user@example.com"},
		{"msprvs1=17abcdefghijk=bounces-x@example.com", "bounces-x@example.com"},
		{"btv1==0123abc==user@example.com", "user@example.com"},
		{"prvs=x@example.com", "prvs=x@example.com"}, // no tag: left alone
		// SRS
		{"SRS0=HHHH=TT=orig.example=alice@forwarder.example", "alice@orig.example"},
		{"srs0+HHHH=TT=orig.example=alice@forwarder.example", "alice@orig.example"},
		{"SRS0=HHHH=TT=orig.example=a=b@fwd.example", "a=b@orig.example"},
		{"SRS1=HHHH=first.example==HHHH=TT=orig.example=alice@second.example", "alice@orig.example"},
		{"SRS0=HHHH=TT=orig.example=prvs=1234abcdef=alice+x@fwd.example", "alice@orig.example"},
		{"srs0=broken@fwd.example", "srs0=broken@fwd.example"},
		{"postmaster", "postmaster"},
	} {
		if got := NormalizeSender(tc.in); got != tc.want {
			t.Errorf("NormalizeSender(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNormalizeRcpt(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Bob+Lists@Example.ORG", "bob@example.org"},
		{"<bob@example.org>", "bob@example.org"},
		{"prvs=1234abcdef=bob@example.org", "prvs=1234abcdef=bob@example.org"}, // BATV is a sender thing
	} {
		if got := NormalizeRcpt(tc.in); got != tc.want {
			t.Errorf("NormalizeRcpt(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestExempt(t *testing.T) {
	for _, tc := range []struct {
		sender, rcpt string
		want         bool
	}{
		{"", "bob@example.org", true},
		{"<>", "bob@example.org", true},
		{"a@example.com", "Postmaster@example.org", true},
		{"a@example.com", "abuse+x@example.org", true},
		{"a@example.com", "<postmaster>", true},
		{"a@example.com", "bob@example.org", false},
		{"a@example.com", "postmaster-not@example.org", false},
	} {
		if got := Exempt(tc.sender, tc.rcpt); got != tc.want {
			t.Errorf("Exempt(%q, %q) = %v, want %v", tc.sender, tc.rcpt, got, tc.want)
		}
	}
}

func TestMakeKey(t *testing.T) {
	p := Params{}
	for _, tc := range []struct {
		r    Request
		p    Params
		want Key
	}{
		{Request{Client: netip.MustParseAddr("192.0.2.77"), Sender: "A+x@Ex.com", Rcpt: "B+y@Ex.org"}, p,
			Key{"net:192.0.2.0/24", "a@ex.com", "b@ex.org"}},
		{Request{Client: netip.MustParseAddr("2001:db8:1:2:3:4:5:6"), Sender: "a@ex.com", Rcpt: "b@ex.org"}, p,
			Key{"net:2001:db8:1:2::/64", "a@ex.com", "b@ex.org"}},
		{Request{Client: netip.MustParseAddr("::ffff:192.0.2.77"), Sender: "a@ex.com", Rcpt: "b@ex.org"}, p,
			Key{"net:192.0.2.0/24", "a@ex.com", "b@ex.org"}},
		{Request{Client: netip.MustParseAddr("192.0.2.77"), SPFDomain: "Mail.Example.COM.", Sender: "a@ex.com", Rcpt: "b@ex.org"}, p,
			Key{"spf:mail.example.com", "a@ex.com", "b@ex.org"}},
		{Request{Client: netip.MustParseAddr("192.0.2.77"), Sender: "a@ex.com", Rcpt: "b@ex.org"}, Params{IPv4Bits: 32},
			Key{"net:192.0.2.77/32", "a@ex.com", "b@ex.org"}},
		{Request{Sender: "a@ex.com", Rcpt: "b@ex.org"}, p, Key{"net:unknown", "a@ex.com", "b@ex.org"}},
	} {
		if got := MakeKey(tc.r, tc.p); got != tc.want {
			t.Errorf("MakeKey(%+v) = %+v, want %+v", tc.r, got, tc.want)
		}
	}
}

// FuzzNormalizeSender feeds what an SMTP client may send: no panic, the
// result is stable (a second pass changes nothing), lower case, and
// carries no +extension.
func FuzzNormalizeSender(f *testing.F) {
	for _, s := range []string{"", "<>", "a+b@c", "prvs=1234abcdef=u@d", "SRS0=h=tt=d=u@f",
		"SRS1=h=f==h=tt=d=u@f", "btv1==x==u@d", "prvs=u/1234abcdef@d", "\xff@\xfe", "srs0=a=b=c=@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeSender(s)
		if again := NormalizeSender(n); again != n {
			t.Fatalf("NormalizeSender(%q) = %q, but NormalizeSender(%q) = %q", s, n, n, again)
		}
		if utf8.ValidString(n) && strings.ToLower(n) != n {
			t.Fatalf("NormalizeSender(%q) = %q is not lower case", s, n)
		}
		if local, _, _ := cutLast(n, "@"); strings.IndexByte(local, '+') > 0 {
			t.Fatalf("NormalizeSender(%q) = %q keeps a +extension", s, n)
		}
	})
}
