package policy

import (
	"net/netip"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

// mustNew builds a policy and fails the test on an error.
func mustNew(t testing.TB, rules ...Rule) *Policy {
	t.Helper()
	p, _, err := New(rules)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func mustParse(t testing.TB, text string) []Rule {
	t.Helper()
	rules, err := ParseTable("t", strings.NewReader(text))
	if err != nil {
		t.Fatalf("ParseTable: %v", err)
	}
	return rules
}

func addr(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	return netip.MustParseAddr(s)
}

func source(r *Rule) string {
	if r == nil {
		return "<nil>"
	}
	return r.Source
}

// wantErr checks that err mentions every one of subs ("" subs: err is nil).
func wantErr(t *testing.T, err error, subs ...string) {
	t.Helper()
	if len(subs) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}
