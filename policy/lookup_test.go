package policy

import (
	"net/netip"
	"testing"
)

// lookupRules exercise every step of the lookup order; each rule's Source
// names it so that a test can say which one should win.
func lookupRules() []Rule {
	net4 := netip.MustParsePrefix("192.0.2.0/24")
	net6 := netip.MustParsePrefix("2001:db8::/32")
	return []Rule{
		{Recipient: "alice@example.org", Source: "alice"},
		{Recipient: "bob+lists@example.org", Source: "bob+lists"},
		{Recipient: "Bob@Example.org", Source: "bob"},
		{Recipient: "example.org", Source: "domain"},
		{Recipient: ".example.org", Source: "subdomains"},
		{Recipient: ".sub.example.org", Source: "sub-subdomains"},
		{Recipient: "*", Source: "default"},
		{Recipient: "bücher.example", Source: "idn-utf8-key"},
		{Recipient: "xn--caf-dma.example", Source: "idn-alabel-key"}, // café.example
		// Conditions, all at one key, tried in this order.
		{Recipient: "cond.example", Sender: "boss@partner.example", Source: "sender-address"},
		{Recipient: "cond.example", Sender: "partner.example", Source: "sender-domain"},
		{Recipient: "cond.example", Sender: ".partner.example", Source: "sender-subdomains"},
		{Recipient: "cond.example", Sender: "<>", Source: "null-sender"},
		{Recipient: "cond.example", ClientNetwork: net4, Source: "client-v4"},
		{Recipient: "cond.example", ClientNetwork: net6, Source: "client-v6"},
		{Recipient: "cond.example", Sender: "relay.example", ClientNetwork: netip.MustParsePrefix("198.51.100.0/24"), Source: "sender-and-client"},
		// A key whose only rule has a condition falls through when it fails.
		{Recipient: "x@cond.example", Sender: "friend.example", Source: "address-with-condition"},
		// The first rule at a key whose conditions hold wins.
		{Recipient: "order.example", ClientNetwork: net4, Source: "order-client"},
		{Recipient: "order.example", Sender: "a.example", Source: "order-sender"},
		{Recipient: "order.example", Source: "order-any"},
	}
}

func TestLookupOrder(t *testing.T) {
	p := mustNew(t, lookupRules()...)
	tests := []struct {
		rcpt, sender, client string
		want                 string
	}{
		// Full address, case-insensitive, with or without brackets.
		{"alice@example.org", "", "", "alice"},
		{"ALICE@Example.ORG", "", "", "alice"},
		{"<alice@example.org>", "", "", "alice"},
		{"bob@example.org", "", "", "bob"},
		// Address extensions: the full address first, then without it.
		{"alice+news@example.org", "", "", "alice"},
		{"bob+lists@example.org", "", "", "bob+lists"},
		{"BOB+Lists@example.org", "", "", "bob+lists"},
		{"bob+other@example.org", "", "", "bob"},
		{"bob+lists+x@example.org", "", "", "bob"}, // split at the first '+'
		{"+bob@example.org", "", "", "domain"},     // a leading '+' is no delimiter
		// Domain, then parent domains closest first, then "*".
		{"carol@example.org", "", "", "domain"},
		{"carol@EXAMPLE.org.", "", "", "domain"},
		{"carol@x.example.org", "", "", "subdomains"},
		{"carol@sub.example.org", "", "", "subdomains"}, // .sub.example.org is for its subdomains only
		{"carol@x.sub.example.org", "", "", "sub-subdomains"},
		{"carol@a.b.x.sub.example.org", "", "", "sub-subdomains"},
		{"alice@x.example.org", "", "", "subdomains"}, // an address key is for its own domain only
		{"carol@notexample.org", "", "", "default"},   // parents end at a dot
		{"carol@example.net", "", "", "default"},
		{"postmaster", "", "", "default"},
		{"", "", "", "default"},
		{"user@[192.0.2.1]", "", "", "default"},
		{"user@bad..example.org", "", "", "default"},
		// IDN: UTF-8 and A-labels are the same key, whichever the rule used.
		{"info@bücher.example", "", "", "idn-utf8-key"},
		{"info@BÜCHER.example", "", "", "idn-utf8-key"},
		{"info@xn--bcher-kva.example", "", "", "idn-utf8-key"},
		{"info@café.example", "", "", "idn-alabel-key"},
		{"info@xn--caf-dma.example", "", "", "idn-alabel-key"},
		// Sender conditions.
		{"y@cond.example", "boss@partner.example", "", "sender-address"},
		{"y@cond.example", "Boss+tag@Partner.Example", "", "sender-address"},
		{"y@cond.example", "clerk@partner.example", "", "sender-domain"},
		{"y@cond.example", "clerk@eu.partner.example", "", "sender-subdomains"},
		{"y@cond.example", "clerk@notpartner.example", "", "default"},
		{"y@cond.example", "", "", "null-sender"},
		{"y@cond.example", "<>", "", "null-sender"},
		// Client network conditions, IPv4 (also mapped into IPv6) and IPv6.
		{"y@cond.example", "someone@else.example", "192.0.2.77", "client-v4"},
		{"y@cond.example", "someone@else.example", "::ffff:192.0.2.77", "client-v4"},
		{"y@cond.example", "someone@else.example", "2001:db8:1::25", "client-v6"},
		{"y@cond.example", "someone@else.example", "203.0.113.1", "default"},
		{"y@cond.example", "someone@else.example", "", "default"},
		// Both conditions must hold.
		{"y@cond.example", "x@relay.example", "198.51.100.9", "sender-and-client"},
		{"y@cond.example", "x@relay.example", "203.0.113.1", "default"},
		{"y@cond.example", "x@other.example", "198.51.100.9", "default"},
		// The address key's condition fails: on to the domain's rules.
		{"x@cond.example", "a@friend.example", "", "address-with-condition"},
		{"x@cond.example", "clerk@partner.example", "", "sender-domain"},
		// First rule whose conditions hold, in the order given.
		{"z@order.example", "u@a.example", "192.0.2.1", "order-client"},
		{"z@order.example", "u@a.example", "203.0.113.1", "order-sender"},
		{"z@order.example", "u@b.example", "203.0.113.1", "order-any"},
	}
	for _, tt := range tests {
		t.Run(tt.rcpt+"/"+tt.sender+"/"+tt.client, func(t *testing.T) {
			got := p.Lookup(tt.rcpt, tt.sender, addr(tt.client))
			if source(got) != tt.want {
				t.Errorf("Lookup(%q, %q, %q) = %s, want %s", tt.rcpt, tt.sender, tt.client, source(got), tt.want)
			}
		})
	}
}

func TestLookupWithoutDefault(t *testing.T) {
	p := mustNew(t, Rule{Recipient: "example.org", Source: "domain"})
	if r := p.Lookup("a@example.net", "", netip.Addr{}); r != nil {
		t.Errorf("got %s, want no rule", r.Source)
	}
	var none *Policy
	if none.Lookup("a@example.org", "", netip.Addr{}) != nil || none.LookupDomain("example.org") != nil || none.Len() != 0 {
		t.Error("a nil Policy has rules")
	}
	empty := mustNew(t)
	if empty.Lookup("a@example.org", "", netip.Addr{}) != nil || empty.Len() != 0 {
		t.Error("an empty Policy has rules")
	}
}

func TestLookupDomain(t *testing.T) {
	p := mustNew(t, lookupRules()...)
	tests := []struct{ domain, want string }{
		{"example.org", "domain"},
		{"EXAMPLE.ORG.", "domain"},
		{"x.example.org", "subdomains"},
		{"mx.sub.example.org", "sub-subdomains"},
		{"bücher.example", "idn-utf8-key"},
		{"xn--caf-dma.example", "idn-alabel-key"},
		// Rules with conditions do not answer Postfix's question.
		{"cond.example", "default"},
		{"order.example", "order-any"},
		// Explicit next hops are not domains: only "*".
		{"[mx.example.org]", "default"},
		{"[mx.example.org]:587", "default"},
		{"example.org:25", "default"},
		{"example.net", "default"},
	}
	for _, tt := range tests {
		if got := p.LookupDomain(tt.domain); source(got) != tt.want {
			t.Errorf("LookupDomain(%q) = %s, want %s", tt.domain, source(got), tt.want)
		}
	}
	noDefault := mustNew(t, Rule{Recipient: "user@example.org", Source: "address"})
	if r := noDefault.LookupDomain("example.org"); r != nil {
		t.Errorf("an address rule answered for a domain: %s", r.Source)
	}
}

func TestLookupReturnsTheRule(t *testing.T) {
	rules := []Rule{{Recipient: "example.org", Settings: Settings{RequireTLS: ptr(true), MinTLSVersion: "TLSv1.2"}, Source: "f:1"}}
	p := mustNew(t, rules...)
	rules[0].MinTLSVersion = "TLSv1.3" // the caller's slice is not the policy's
	r := p.Lookup("a@example.org", "", netip.Addr{})
	if r == nil || r.MinTLSVersion != "TLSv1.2" || !*r.RequireTLS || r.Recipient != "example.org" {
		t.Fatalf("got %+v", r)
	}
	if p.Len() != 1 {
		t.Errorf("Len = %d", p.Len())
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		err  []string
	}{
		{"bad recipient", Rule{Recipient: "exa mple.org", Source: "f:3"}, []string{"f:3: recipient", "white space"}},
		{"empty recipient", Rule{Source: "f:4"}, []string{"f:4: empty recipient"}},
		{"at-domain", Rule{Recipient: "@example.org", Source: "f:5"}, []string{"f:5", "write a domain without '@'"}},
		{"localpart only", Rule{Recipient: "user@", Source: "f:6"}, []string{"f:6", "local part alone"}},
		{"empty label", Rule{Recipient: "a..example.org", Source: "f:7"}, []string{"f:7", "empty"}},
		{"bad IDN", Rule{Recipient: "xn--.example", Source: "f:8"}, []string{"f:8", "not a valid domain"}},
		{"bad sender", Rule{Recipient: "example.org", Sender: "a b", Source: "f:9"}, []string{"f:9: sender"}},
		{"bad setting", Rule{Recipient: "example.org", Settings: Settings{TLSReply: 500}, Source: "f:10"}, []string{"f:10: tls_reply"}},
		{"no source", Rule{Recipient: "bad key"}, []string{`rule 1 (bad key)`}},
		{"dot in address domain", Rule{Recipient: "user@.example.org", Source: "f:11"}, []string{"f:11"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, err := New([]Rule{tt.rule})
			wantErr(t, err, tt.err...)
			if p != nil {
				t.Error("a policy was built from an invalid rule")
			}
		})
	}
}

func TestNewCapsErrors(t *testing.T) {
	rules := make([]Rule, maxErrors+5)
	for i := range rules {
		rules[i] = Rule{Recipient: "bad key"}
	}
	_, _, err := New(rules)
	wantErr(t, err, "rule 20 (bad key)", "... and 5 more errors")
}

func TestLookupDoesNotAllocate(t *testing.T) {
	p := mustNew(t, lookupRules()...)
	client := netip.MustParseAddr("203.0.113.1")
	for _, rcpt := range []string{"alice@example.org", "bob+other@example.org", "carol@a.b.x.sub.example.org", "y@cond.example", "carol@example.net"} {
		if n := testing.AllocsPerRun(100, func() { p.Lookup(rcpt, "someone@else.example", client) }); n != 0 {
			t.Errorf("Lookup(%q) allocates %.0f times", rcpt, n)
		}
	}
}
