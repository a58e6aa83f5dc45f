package spf

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// rfcEnv is the setting of the examples of RFC 7208 7.4: the sender is
// strong-bad@email.example.com, the PTR name of the client mx.example.org.
func rfcEnv(ip string) *macroEnv {
	return &macroEnv{
		sender:       "strong-bad@email.example.com",
		local:        "strong-bad",
		senderDomain: "email.example.com",
		domain:       "email.example.com",
		ip:           netip.MustParseAddr(ip),
		helo:         "mx.example.org",
		receiver:     "mx.example.net",
		now:          func() time.Time { return time.Unix(1700000000, 0) },
		ptr:          func() string { return "mx.example.org" },
	}
}

func expandString(t *testing.T, s string, mode macroMode, env *macroEnv) string {
	t.Helper()
	var ms *MacroString
	var err error
	if mode == macroDomain {
		ms, err = parseDomainSpec(s)
	} else {
		ms, err = parseMacroString(s, mode)
	}
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return ms.expand(env)
}

// TestMacroRFCExamples checks the expansion examples of RFC 7208 7.4, verbatim.
func TestMacroRFCExamples(t *testing.T) {
	tests := []struct{ ip, macro, want string }{
		{"192.0.2.3", "%{s}", "strong-bad@email.example.com"},
		{"192.0.2.3", "%{o}", "email.example.com"},
		{"192.0.2.3", "%{d}", "email.example.com"},
		{"192.0.2.3", "%{d4}", "email.example.com"},
		{"192.0.2.3", "%{d3}", "email.example.com"},
		{"192.0.2.3", "%{d2}", "example.com"},
		{"192.0.2.3", "%{d1}", "com"},
		{"192.0.2.3", "%{dr}", "com.example.email"},
		{"192.0.2.3", "%{d2r}", "example.email"},
		{"192.0.2.3", "%{l}", "strong-bad"},
		{"192.0.2.3", "%{l-}", "strong.bad"},
		{"192.0.2.3", "%{lr}", "strong-bad"},
		{"192.0.2.3", "%{lr-}", "bad.strong"},
		{"192.0.2.3", "%{l1r-}", "strong"},
		{"192.0.2.3", "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
		{"192.0.2.3", "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
		{"192.0.2.3", "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
		{"192.0.2.3", "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
		{"192.0.2.3", "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
		{"2001:db8::cb01", "%{ir}.%{v}._spf.%{d2}", "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"},
	}
	for _, tc := range tests {
		if got := expandString(t, tc.macro, macroDomain, rfcEnv(tc.ip)); got != tc.want {
			t.Errorf("%s with %s: got %q, want %q", tc.macro, tc.ip, got, tc.want)
		}
	}
}

// TestMacroDetails covers the rest of section 7: the other letters, the
// escapes, URL-escaping of upper-case macros, delimiters, transformers.
func TestMacroDetails(t *testing.T) {
	tests := []struct {
		ip, macro string
		mode      macroMode
		want      string
	}{
		{"192.0.2.3", "%%%_%-", macroExplain, "% %20"},
		{"192.0.2.3", "%{S}", macroExplain, "strong-bad%40email.example.com"},
		{"192.0.2.3", "%{L}", macroExplain, "strong-bad"},
		{"192.0.2.3", "%{i}", macroDomain, "192.0.2.3"},
		{"192.0.2.3", "%{c}", macroExplain, "192.0.2.3"},
		{"2001:db8::cb01", "%{c}", macroExplain, "2001:db8::cb01"},
		{"2001:db8::cb01", "%{v}", macroDomain, "ip6"},
		{"192.0.2.3", "%{v}", macroDomain, "in-addr"},
		{"192.0.2.3", "%{h}", macroDomain, "mx.example.org"},
		{"192.0.2.3", "%{p}", macroDomain, "mx.example.org"},
		{"192.0.2.3", "%{p2}", macroDomain, "example.org"},
		{"192.0.2.3", "%{r}", macroExplain, "mx.example.net"},
		{"192.0.2.3", "%{t}", macroExplain, "1700000000"},
		{"192.0.2.3", "%{dR}", macroDomain, "com.example.email"},
		{"192.0.2.3", "%{d99999999999999999999}", macroDomain, "email.example.com"},
		{"192.0.2.3", "%{l=}", macroDomain, "strong-bad"},
	}
	for _, tc := range tests {
		if got := expandString(t, tc.macro, tc.mode, rfcEnv(tc.ip)); got != tc.want {
			t.Errorf("%s with %s: got %q, want %q", tc.macro, tc.ip, got, tc.want)
		}
	}
	// The upper-case example of the suite (7.3): "~" is unreserved.
	env := rfcEnv("192.0.2.3")
	env.local = "~jack&jill=up-a_b3.c"
	if got := expandString(t, "l=%{L}", macroExplain, env); got != "l=~jack%26jill%3Dup-a_b3.c" {
		t.Errorf("%%{L}: got %q", got)
	}
	// Several delimiters: %{l2r+-} of foo-bar+zip+quux is bar.foo (suite).
	env.local = "foo-bar+zip+quux"
	if got := expandString(t, "%{l2r+-}", macroDomain, env); got != "bar.foo" {
		t.Errorf("%%{l2r+-}: got %q", got)
	}
	// Empty parts survive splitting.
	env.local = "a..b"
	if got := expandString(t, "%{lr}", macroDomain, env); got != "b..a" {
		t.Errorf("%%{lr} of a..b: got %q", got)
	}
}

// TestMacroSyntaxErrors: invalid macros are syntax errors (7.1), and c, r, t
// are allowed only in explanations (7.3).
func TestMacroSyntaxErrors(t *testing.T) {
	bad := []struct {
		s    string
		mode macroMode
	}{
		{"%", macroAny},
		{"%a", macroAny},
		{"%(ir).sbl.example.com", macroAny},
		{"foo%.example.com", macroAny},
		{"%{", macroAny},
		{"%{}", macroAny},
		{"%{x}", macroAny},
		{"%{d0}", macroAny},
		{"%{d2r2}", macroAny},
		{"%{d!}", macroAny},
		{"%{s.-@}", macroExplain},
		{"%{c}.example.com", macroDomain},
		{"%{r}.example.com", macroDomain},
		{"%{t}.example.com", macroDomain},
		{"a b", macroAny},
		{"a\tb", macroExplain},
		{"caf\xc3\xa9", macroExplain},
	}
	for _, tc := range bad {
		if _, err := parseMacroString(tc.s, tc.mode); err == nil {
			t.Errorf("%q (mode %d): no error", tc.s, tc.mode)
		}
	}
	good := []struct {
		s    string
		mode macroMode
	}{
		{"", macroAny},
		{"%{c} %{r} %{t}", macroExplain},
		{"%{c}", macroAny},
		{"%{d01}", macroAny},
		{"%{l1r+-.,/_=}", macroAny},
	}
	for _, tc := range good {
		if _, err := parseMacroString(tc.s, tc.mode); err != nil {
			t.Errorf("%q (mode %d): %v", tc.s, tc.mode, err)
		}
	}
}

// TestDomainSpec checks domain-spec = macro-string domain-end (7.1).
func TestDomainSpec(t *testing.T) {
	valid := []string{
		"example.com", "example.com.", "%{d}", "%{d}.com", "foo:bar/baz.example.com",
		"foo.example.xn--zckzah", "_spf.%{d2}", "%{ir}.%{v}.arpa", "x%%", "a.b-c", ".com",
		"mail.example...com",
	}
	for _, s := range valid {
		if _, err := parseDomainSpec(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	invalid := []string{
		"", "museum", "museum.", "foo-bar", "111.222.33.44", "abc.123", "example.-com",
		"example.com-", "example.com:8080", "ip5.example.com/24", "%{d}com", "%{d}.",
		"foo.example.com\x00", "a:b", "%{c}.com",
	}
	for _, s := range invalid {
		if _, err := parseDomainSpec(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

// TestTruncation checks 7.3: an expanded name over 253 characters loses
// labels on the left.
func TestTruncation(t *testing.T) {
	c := &checker{ip: netip.MustParseAddr("192.0.2.1"), ptrNames: map[string]string{}}
	c.local = strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60)
	ds, err := parseDomainSpec("%{l}.%{l}.example.com")
	if err != nil {
		t.Fatal(err)
	}
	got := c.expandName(t.Context(), ds, "example.com")
	want := c.local + ".example.com" // 377 characters: three labels go
	if got != want || len(got) > 253 {
		t.Errorf("got %q (%d), want %q", got, len(got), want)
	}
}

// FuzzExpand checks that no macro-string panics the parser or the expander.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{
		"%{s}", "%{ir}.%{v}._spf.%{d2}", "%{l1r-}", "%%%_%-", "%{D2}", "%{c} %{r} %{t}",
		"%{d99999999999999999999r.-+,/_=}", "%", "%{", "a.%{p}.b", "exp=%{L}",
	} {
		f.Add(s, "192.0.2.3")
		f.Add(s, "2001:db8::cb01")
	}
	f.Fuzz(func(t *testing.T, s, ip string) {
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			addr = netip.MustParseAddr("192.0.2.3")
		}
		env := rfcEnv("192.0.2.3")
		env.ip = addr.Unmap()
		env.local = s
		for _, mode := range []macroMode{macroDomain, macroAny, macroExplain} {
			if ms, err := parseMacroString(s, mode); err == nil {
				_ = ms.expand(env)
				_ = ms.String()
			}
		}
		if ds, err := parseDomainSpec(s); err == nil {
			_ = ds.expand(env)
		}
	})
}
