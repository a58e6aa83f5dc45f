package authres

import (
	"strings"
	"testing"
	"time"
)

// Hostile input (docs/HOSTILE.md): values from outside (envelope, HELO,
// DKIM tags, PTR names) never add a line to the header field; the only
// line breaks are Format's own folds, "\r\n\t" before each resinfo.
func TestHostileFormatNoInjection(t *testing.T) {
	evil := []string{"a\r\nX-Injected: yes", "a\nb", "a\rb", "\x00", "\r\n", "a\r\n\tfolded", "\"\\\r\n", "ü\u2028\u0085"}
	for _, v := range evil {
		got := Format("mx.example.org", []Entry{
			{Method: "spf", Result: "pass", Reason: v, Props: []Prop{{"smtp", "mailfrom", v + "@" + v}, {"smtp", "helo", v}}},
			{Method: "dkim", Result: "fail", Reason: v, Props: []Prop{{"header", "d", v}, {"header", "b", v}}},
			{Method: "iprev", Result: "pass", Props: []Prop{{"policy", "iprev", v}}, Comment: v},
		})
		if n := strings.Count(got, "\r\n\t"); n != 3 {
			t.Errorf("%q: %d folds, want 3: %q", v, n, got)
		}
		rest := strings.ReplaceAll(got, "\r\n\t", "")
		if strings.ContainsAny(rest, "\r\n\x00") {
			t.Errorf("%q: line break or NUL outside the folds: %q", v, got)
		}
	}
}

// Malformed and forged authserv-ids (the daemon's
// TestHostileForeignAuthenticationResults and
// TestHostileForgedAuthenticationResults run them end to end).
func TestHostileAuthservID(t *testing.T) {
	tests := []struct {
		in   string
		ours bool // names mx.test
	}{
		{" \x01\x7f;;;==@@ ((( \"\" mx.test", false},
		{"", false},
		{" \t", false},
		{" (mx.test; spf=pass)", false},
		{" (mx.test; spf=pass", false},
		{` "mx.test; spf=pass`, false},
		{" ; spf=pass", false},
		{" mx.test.; spf=pass", false},
		{" mx.testing; spf=pass", false},
		{" a.mx.test; spf=pass", false},
		{" mx.tést; spf=pass", false},
		{" foreign.example; dkim=pass (mx.test)", false},
		{" MX.Test; spf=pass", true},
		{" (x) mx.test; dkim=pass", true},
		{" mx.test 1; spf=pass", true},
		{"\n\tmx.test;\n\tspf=pass", true},
		{"\r\n mx.test;\r\n spf=pass", true},
		{" (a comment (nested) \\) on\n two lines)\n mx.test (again) ; none", true},
		{` "mx.test"; spf=pass`, true},
		{` "mx\.test"; spf=pass`, true},
		{" mx.test", true},
		{" mx.test(c);none", true},
	}
	for _, tt := range tests {
		id, ok := AuthservID(tt.in)
		if ours := ok && SameID(id, "mx.test"); ours != tt.ours {
			t.Errorf("AuthservID(%q) = %q, %v: ours=%v, want %v", tt.in, id, ok, ours, tt.ours)
		}
	}
}

// Long values are read in linear time: 100 KB of anything, 100 KB of
// nested or unbalanced parentheses, 100 KB of quoted-pairs.
func TestHostileAuthservIDLong(t *testing.T) {
	const n = 100 << 10
	inputs := map[string]string{
		"long foreign":     " other.example; " + strings.Repeat("spf=pass ", n/9),
		"open parentheses": strings.Repeat("(", n) + " mx.test; none",
		"balanced nesting": strings.Repeat("(", n/2) + strings.Repeat(")", n/2) + " mx.test; none",
		"many comments":    strings.Repeat("(c) ", n/4) + "mx.test; none",
		"quoted-pairs":     "(" + strings.Repeat(`\(`, n/2) + ") mx.test; none",
		"long quoted id":   `"` + strings.Repeat(`\x`, n/2),
		"long token id":    strings.Repeat("a", n) + "; none",
	}
	want := map[string]bool{"balanced nesting": true, "many comments": true, "quoted-pairs": true}
	for name, in := range inputs {
		start := time.Now()
		id, ok := AuthservID(in)
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s: took %v", name, took)
		}
		if ours := ok && SameID(id, "mx.test"); ours != want[name] {
			t.Errorf("%s: ours=%v (ok=%v, id of %d bytes)", name, ours, ok, len(id))
		}
	}
}
