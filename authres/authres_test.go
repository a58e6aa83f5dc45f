package authres

import (
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
		want    string
	}{
		{"none", nil, "mx.example.org; none"},
		{"spf mailfrom", []Entry{{Method: "spf", Result: "pass", Props: []Prop{{"smtp", "mailfrom", "user@example.com"}}}},
			"mx.example.org;\r\n\tspf=pass smtp.mailfrom=user@example.com"},
		{"spf helo", []Entry{{Method: "spf", Result: "none", Props: []Prop{{"smtp", "helo", "mail.example.com"}}}},
			"mx.example.org;\r\n\tspf=none smtp.helo=mail.example.com"},
		{"odd local part is quoted", []Entry{{Method: "spf", Result: "fail", Props: []Prop{{"smtp", "mailfrom", `"a b"@example.com`}}}},
			"mx.example.org;\r\n\tspf=fail smtp.mailfrom=\"\\\"a b\\\"@example.com\""},
		{"reason and two results", []Entry{
			{Method: "spf", Result: "permerror", Reason: "void lookup limit\r\n exceeded"},
			{Method: "iprev", Result: "pass", Props: []Prop{{"policy", "iprev", "192.0.2.1"}}},
		}, "mx.example.org;\r\n\tspf=permerror reason=\"void lookup limit exceeded\";\r\n\tiprev=pass policy.iprev=192.0.2.1"},
		{"iprev with the host name as comment (RFC 8601 B.4)", []Entry{
			{Method: "iprev", Result: "pass", Props: []Prop{{"policy", "iprev", "192.0.2.200"}}, Comment: "mail.(example).com\r\n"},
		}, "mx.example.org;\r\n\tiprev=pass policy.iprev=192.0.2.200 (mail.example.com)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Format("mx.example.org", tt.entries); got != tt.want {
				t.Errorf("Format = %q, want %q", got, tt.want)
			}
		})
	}
}

// Examples from RFC 8601 appendix B and cases that broke other parsers.
func TestAuthservID(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"example.org 1; none", "example.org", true},
		{"example.com; spf=pass smtp.mailfrom=example.net", "example.com", true},
		{" mail-router.example.net; dkim=pass (good signature) header.d=newyork.example.com", "mail-router.example.net", true},
		{"example.com (some comment); spf=pass", "example.com", true},
		{"(comment (nested) \\) still) example.com;none", "example.com", true},
		{"\r\n\texample.com;none", "example.com", true},
		{`"quoted.example" ; none`, "quoted.example", true},
		{"example.com", "example.com", true},
		{"; spf=pass", "", false},
		{"(unterminated comment example.com; none", "", false},
		{`"unterminated`, "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := AuthservID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("AuthservID(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFormatRoundTrip(t *testing.T) {
	v := Format("mx.example.org", []Entry{{Method: "spf", Result: "pass"}})
	if id, ok := AuthservID(v); !ok || !SameID(id, "MX.example.ORG") {
		t.Fatalf("AuthservID(Format()) = %q, %v", id, ok)
	}
}

func FuzzAuthservID(f *testing.F) {
	for _, s := range []string{"example.org; none", "(c) x; y", `"q\"x"; none`, "((((", `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := AuthservID(s)
		if ok && (id == "" || strings.ContainsAny(id, "\r\n")) && !strings.HasPrefix(strings.TrimLeft(s, " \t\r\n"), `"`) {
			t.Fatalf("AuthservID(%q) = %q: a token id cannot be empty or hold line breaks", s, id)
		}
	})
}
