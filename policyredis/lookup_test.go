package policyredis

import (
	"context"
	"testing"

	"spamgate/policy"
)

// got names the rule Lookup found, for comparing with a want.
func got(r *policy.Rule) string {
	if r == nil {
		return "<nil>"
	}
	return r.Recipient
}

func TestLookupPrecedence(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	a := srv.Client()
	for key, fields := range map[string][]string{
		"*":                     {"require_tls", "no"},
		".org":                  {"greylist", "always"},
		".example.org":          {"skip", "yes"},
		".sub.example.org":      {"dnsbl_threshold", "3"},
		"example.org":           {"require_tls", "yes", "min_tls_version", "TLSv1.2"},
		"bob@example.org":       {"greylist", "never"},
		"bob+lists@example.org": {"tag_level", "3.5"},
		"xn--bcher-kva.example": {"require_tls", "yes"},
	} {
		hset(t, a, DefaultKeyPrefix+key, fields...)
	}
	s := newSource(t, Options{Addresses: []string{srv.Addr()}})

	tests := []struct {
		rcpt, want string
	}{
		{"bob+lists@example.org", "bob+lists@example.org"},   // full address
		{"<BOB+Lists@Example.ORG>", "bob+lists@example.org"}, // in lookup form
		{"bob+other@example.org", "bob@example.org"},         // without the extension
		{"bob@example.org", "bob@example.org"},
		{"carol@example.org", "example.org"},              // domain
		{"carol@x.example.org", ".example.org"},           // parent domain
		{"carol@sub.example.org", ".example.org"},         // .sub.example.org is for its subdomains only
		{"carol@a.b.sub.example.org", ".sub.example.org"}, // closest parent first
		{"carol@other.org", ".org"},                       // farthest parent
		{"info@bücher.example", "xn--bcher-kva.example"},  // IDN in A-labels
		{"carol@example.net", "*"},                        // default
		{"postmaster", "*"},                               // no domain: only the default
		{"user@[192.0.2.1]", "*"},                         // address literal
	}
	for _, tt := range tests {
		r, err := s.Lookup(context.Background(), tt.rcpt)
		if err != nil {
			t.Errorf("Lookup(%q): %v", tt.rcpt, err)
			continue
		}
		if got(r) != tt.want {
			t.Errorf("Lookup(%q) = rule for %s, want %s", tt.rcpt, got(r), tt.want)
		}
	}

	// The rule carries the hash's settings and says where it came from.
	r, err := s.Lookup(context.Background(), "carol@example.org")
	if err != nil {
		t.Fatal(err)
	}
	want := policy.Rule{Recipient: "example.org", Source: "redis:spamgate:policy:example.org"}
	want.RequireTLS, want.MinTLSVersion = r.RequireTLS, "TLSv1.2" // the pointer is compared below
	if *r != want || r.RequireTLS == nil || !*r.RequireTLS {
		t.Errorf("rule = %+v, want the example.org hash alone (require_tls=yes, min_tls_version=TLSv1.2), nothing from less specific keys", *r)
	}
}

func TestLookupNothing(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	a := srv.Client()
	hset(t, a, "spamgate:policy:example.org", "require_tls", "yes") // default prefix
	hset(t, a, "panel:example.net", "require_tls", "yes")

	tests := []struct {
		prefix, rcpt, want, source string
	}{
		{"", "carol@example.com", "<nil>", ""}, // no key at all
		{"panel:", "carol@example.org", "<nil>", ""},
		{"panel:", "carol@example.net", "example.net", "redis:panel:example.net"},
		{"", "carol@example.net", "<nil>", ""},
	}
	for _, tt := range tests {
		s := newSource(t, Options{Addresses: []string{srv.Addr()}, KeyPrefix: tt.prefix})
		r, err := s.Lookup(context.Background(), tt.rcpt)
		switch {
		case err != nil:
			t.Errorf("prefix %q: Lookup(%q): %v", tt.prefix, tt.rcpt, err)
		case got(r) != tt.want:
			t.Errorf("prefix %q: Lookup(%q) = %s, want %s", tt.prefix, tt.rcpt, got(r), tt.want)
		case r != nil && r.Source != tt.source:
			t.Errorf("prefix %q: Lookup(%q).Source = %q, want %q", tt.prefix, tt.rcpt, r.Source, tt.source)
		}
	}
}

func TestLookupBadHash(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	a := srv.Client()
	s := newSource(t, Options{Addresses: []string{srv.Addr()}})

	tests := []struct {
		name   string
		fields []string
		want   []string // the error mentions each
	}{
		{"bad value", []string{"require_tls", "maybe"}, []string{"require_tls", `"maybe" is not yes or no`}},
		{"unknown field", []string{"colour", "blue"}, []string{`unknown setting "colour"`}},
		{"empty value", []string{"greylist", ""}, []string{"greylist: empty value"}},
		{"sender condition", []string{"require_tls", "yes", "sender", "boss@partner.example"}, []string{"sender: conditions are not supported"}},
		{"client condition", []string{"client_network", "192.0.2.0/24"}, []string{"client_network: conditions are not supported"}},
		{"two bad fields", []string{"tls_reply", "451", "greylist", "sometimes"}, []string{"tls_reply: 451", `greylist: "sometimes"`}},
		{"fields that clash", []string{"tag_level", "9", "kill_level", "5"}, []string{"tag_level 9 is above kill_level 5"}},
	}
	// A valid rule that a broken, more specific one must not give way to.
	hset(t, a, DefaultKeyPrefix+".example", "require_tls", "no")
	for i, tt := range tests {
		domain := "case" + string(rune('a'+i)) + ".example"
		key := DefaultKeyPrefix + domain
		hset(t, a, key, tt.fields...)
		r, err := s.Lookup(context.Background(), "user@"+domain)
		if r != nil {
			t.Errorf("%s: Lookup returned a rule (%s) and %v", tt.name, r.Source, err)
		}
		wantErr(t, err, append(tt.want, `redis key "`+key+`"`)...)
	}

	// A key of another type is the panel's mistake too, and named.
	if err := a.Set(context.Background(), DefaultKeyPrefix+"string.example", "require_tls=yes", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Lookup(context.Background(), "user@string.example")
	wantErr(t, err, `redis key "spamgate:policy:string.example"`, "WRONGTYPE")

	// A broken hash less specific than the one that applies is not looked at.
	hset(t, a, DefaultKeyPrefix+"user@casea.example", "greylist", "never")
	r, err := s.Lookup(context.Background(), "user@casea.example")
	if err != nil || got(r) != "user@casea.example" {
		t.Errorf("Lookup over a broken domain hash = %s, %v; want the address's rule", got(r), err)
	}
}

// TestLookupSeesChanges runs a panel's edits one after another: each is in
// effect at the very next lookup, with no cache in between.
func TestLookupSeesChanges(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	a := srv.Client()
	s := newSource(t, Options{Addresses: []string{srv.Addr()}})
	const rcpt = "bob+lists@example.org"
	k := func(key string) string { return DefaultKeyPrefix + key }

	steps := []struct {
		name     string
		edit     func()
		want     string
		wantTLS  string // "", "yes" or "no": the rule's require_tls
		wantMore string // the rule's greylist
	}{
		{"empty", func() {}, "<nil>", "", ""},
		{"domain added", func() { hset(t, a, k("example.org"), "require_tls", "yes") }, "example.org", "yes", ""},
		{"default added", func() { hset(t, a, k("*"), "require_tls", "no") }, "example.org", "yes", ""},
		{"address added", func() { hset(t, a, k("bob@example.org"), "greylist", "never") }, "bob@example.org", "", "never"},
		{"field changed", func() { hset(t, a, k("bob@example.org"), "greylist", "always") }, "bob@example.org", "", "always"},
		{"field added", func() { hset(t, a, k("bob@example.org"), "require_tls", "no") }, "bob@example.org", "no", "always"},
		{"field removed", func() { a.HDel(context.Background(), k("bob@example.org"), "greylist") }, "bob@example.org", "no", ""},
		{"address removed", func() { del(t, a, k("bob@example.org")) }, "example.org", "yes", ""},
		{"last field removed", func() { a.HDel(context.Background(), k("example.org"), "require_tls") }, "*", "no", ""},
		{"all removed", func() { del(t, a, k("*")) }, "<nil>", "", ""},
	}
	for _, st := range steps {
		st.edit()
		r, err := s.Lookup(context.Background(), rcpt)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got(r) != st.want {
			t.Fatalf("%s: Lookup = rule for %s, want %s", st.name, got(r), st.want)
		}
		if r == nil {
			continue
		}
		tls := ""
		if r.RequireTLS != nil {
			tls = map[bool]string{true: "yes", false: "no"}[*r.RequireTLS]
		}
		if tls != st.wantTLS || r.Greylist != st.wantMore {
			t.Errorf("%s: require_tls=%q greylist=%q, want %q and %q", st.name, tls, r.Greylist, st.wantTLS, st.wantMore)
		}
	}
}
