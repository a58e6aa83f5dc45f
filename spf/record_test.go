package spf

import (
	"net/netip"
	"reflect"
	"testing"
)

func ms(t *testing.T, s string) *MacroString {
	t.Helper()
	m, err := parseDomainSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestParseAST checks the typed AST of records from RFC 7208's examples.
func TestParseAST(t *testing.T) {
	tests := []struct {
		record string
		want   *Record
	}{
		{"v=spf1 +all", &Record{Directives: []Directive{{QualifierPass, All{}}}}},
		{"v=spf1 mx/30 mx:example.org/30 -all", &Record{Directives: []Directive{
			{QualifierPass, MX{nil, 30, 128}},
			{QualifierPass, MX{ms(t, "example.org"), 30, 128}},
			{QualifierFail, All{}},
		}}},
		{"v=spf1 ip4:192.0.2.128/28 -all", &Record{Directives: []Directive{
			{QualifierPass, IP4{netip.MustParsePrefix("192.0.2.128/28")}},
			{QualifierFail, All{}},
		}}},
		{"V=SPF1 A:Example.COM/24//64 ?PTR ~exists:%{ir}.%{l1r+-}._spf.%{d} ip6:2001:db8::/32", &Record{Directives: []Directive{
			{QualifierPass, A{ms(t, "Example.COM"), 24, 64}},
			{QualifierNeutral, PTR{}},
			{QualifierSoftFail, Exists{ms(t, "%{ir}.%{l1r+-}._spf.%{d}")}},
			{QualifierPass, IP6{netip.MustParsePrefix("2001:db8::/32")}},
		}}},
		{"v=spf1 mx -all exp=explain._spf.%{d}", &Record{
			Directives: []Directive{{QualifierPass, MX{nil, 32, 128}}, {QualifierFail, All{}}},
			Exp:        ms(t, "explain._spf.%{d}"),
		}},
		{"v=spf1 mx redirect=%{l1r+}._at_.%{o}._spf.%{d} moo.cow-far_out=man:dog/cat", &Record{
			Directives: []Directive{{QualifierPass, MX{nil, 32, 128}}},
			Redirect:   ms(t, "%{l1r+}._at_.%{o}._spf.%{d}"),
			Unknown:    []UnknownModifier{{"moo.cow-far_out", mustMacro(t, "man:dog/cat")}},
		}},
		{"v=spf1", &Record{}},
		{"v=spf1  include:_spf.example.com  ", &Record{Directives: []Directive{{QualifierPass, Include{ms(t, "_spf.example.com")}}}}},
	}
	for _, tc := range tests {
		got, err := Parse(tc.record)
		if err != nil {
			t.Errorf("%q: %v", tc.record, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %#v\nwant %#v", tc.record, got, tc.want)
		}
	}
}

func mustMacro(t *testing.T, s string) *MacroString {
	t.Helper()
	m, err := parseMacroString(s, macroAny)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestParseString checks the canonical form written by Record.String.
func TestParseString(t *testing.T) {
	tests := map[string]string{
		"v=spf1 +all":   "v=spf1 all",
		"v=spf1 a -all": "v=spf1 a -all",
		"v=spf1 exp=e.%{d} a/32//128 ~mx:x.org//64":    "v=spf1 a ~mx:x.org//64 exp=e.%{d}",
		"v=spf1 ip4:10.0.0.0/8 ip6:::FFFF:1.2.3.4":     "v=spf1 ip4:10.0.0.0/8 ip6:::ffff:1.2.3.4",
		"v=spf1 ?include:a.example Redirect=b.example": "v=spf1 ?include:a.example redirect=b.example",
	}
	for in, want := range tests {
		r, err := Parse(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got := r.String(); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

// TestParseErrors: every syntax error anywhere in the record is detected
// before evaluation (4.6), whatever precedes it.
func TestParseErrors(t *testing.T) {
	bad := []string{
		"", "v=spf", "v=spf10", "v=spf1mx", "spf1 -all",
		"v=spf1 ip4:1.2.3.4 -all moo", // unknown mechanism after a match
		"v=spf1 -all ip6",             // ip6 without address
		"v=spf1 -all.", "v=spf1 -all:foo", "v=spf1 -all/8",
		"v=spf1 a/33", "v=spf1 a//129", "v=spf1 a/24/64", "v=spf1 mx/032",
		"v=spf1 ip4:1.2.3.4/33", "v=spf1 ip4:1.2.3", "v=spf1 ip4:1.2.3.4:8080", "v=spf1 ip4:::1",
		"v=spf1 ip4:01.2.3.4", "v=spf1 ip6:1.2.3.4", "v=spf1 ip6::CAFE::BABE", "v=spf1 ip6:fe80::1%eth0",
		"v=spf1 ip6:::1/129", "v=spf1 ip4:1.2.3.4//32",
		"v=spf1 include", "v=spf1 include:", "v=spf1 include:ip5.example.com/24", "v=spf1 exists",
		"v=spf1 exists:mail.example.com/24", "v=spf1 ptr/0", "v=spf1 ptr:",
		"v=spf1 redirect:t2.example.com", "v=spf1 redirect=", "v=spf1 redirect=-all",
		"v=spf1 exp=", "v=spf1 exp=-all", "v=spf1 redirect=a.example redirect=a.example",
		"v=spf1 exp=a.example exp=b.example", "v=spf1 1up=foo", "v=spf1 =all",
		"v=spf1 foo=%abc", "v=spf1 moo.cow/far_out=man", "v=spf1 a:%{r}.example.com",
		"v=spf1 a:foo.example.com\x00", "v=spf1 a:ctrl.example.com\rptr", "v=spf1 \x80a:example.net",
		"v=spf1 a:\xEF\xBB\xBFgarbage.example.net", "v=spf1\tall", "v=spf1 +",
	}
	for _, s := range bad {
		if r, err := Parse(s); err == nil {
			t.Errorf("%q: no error, got %v", s, r)
		}
	}
}

// FuzzParse checks that no record panics the parser and that the canonical
// form of a valid record parses to the same canonical form.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"v=spf1 +all", "v=spf1 a/24//64 mx:example.org/30 -all", "v=spf1 ptr -all",
		"v=spf1 ip4:192.0.2.128/28 ip6:2001:db8::/32 -all", "v=spf1 include:_spf.example.com ~all",
		"v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all", "v=spf1 redirect=_spf.example.com",
		"v=spf1 -all exp=explain._spf.%{d}", "v=spf1 a:foo:bar/baz.example.com", "v=spf1 foo=%{s}",
		"v=spf1 a:macro%%percent%_%_space%-url-space.example.com -all", "v=spf1 ip6:::FFFF:1.2.3.4",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		canon := r.String()
		r2, err := Parse(canon)
		if err != nil {
			t.Fatalf("%q → %q: %v", s, canon, err)
		}
		if again := r2.String(); again != canon {
			t.Fatalf("%q → %q → %q", s, canon, again)
		}
	})
}
