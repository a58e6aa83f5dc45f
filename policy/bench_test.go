package policy

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// hostingRules is what a hosting panel might export: 100,000 entries, half
// addresses and half domains, with a few conditional and parent rules.
func hostingRules() []Rule {
	const n = 100_000
	rules := make([]Rule, 0, n+3)
	tls := Settings{RequireTLS: ptr(true), MinTLSVersion: "TLSv1.2"}
	// Tried before the domain's own rule, and failing for most senders.
	rules = append(rules, Rule{Recipient: "customer7.example", Sender: "scanner.example", Settings: Settings{RequireTLS: ptr(false)}, Source: "cond"})
	for i := range n / 2 {
		rules = append(rules, Rule{Recipient: fmt.Sprintf("user%d@customer%d.example", i, i%5000), Settings: tls, Source: fmt.Sprintf("panel:%d", i+1)})
	}
	for i := range n / 2 {
		rules = append(rules, Rule{Recipient: fmt.Sprintf("customer%d.example", i), Settings: tls, Source: fmt.Sprintf("panel:%d", n/2+i+1)})
	}
	rules = append(rules,
		Rule{Recipient: ".hosted.example", Settings: tls, Source: "parent"},
		Rule{Recipient: "*", Settings: Settings{Greylist: "suspicious"}, Source: "default"},
	)
	return rules
}

func BenchmarkLookup(b *testing.B) {
	p, warns, err := New(hostingRules())
	if err != nil || len(warns) > 0 {
		b.Fatal(err, warns)
	}
	client := netip.MustParseAddr("203.0.113.9")
	for _, bc := range []struct{ name, rcpt, want string }{
		{"address", "user4711@customer4711.example", "panel:4712"},
		{"extension", "user4711+news@customer4711.example", "panel:4712"},
		{"domain", "info@customer42000.example", "panel:92001"},
		{"upper-case", "Info@Customer42000.Example", "panel:92001"},
		{"condition-at-key", "info@customer7.example", "panel:50008"},
		{"parent", "info@a.b.c.hosted.example", "parent"},
		{"default", "info@elsewhere.example", "default"},
		{"idn", "info@bücher.example", "default"},
	} {
		if got := source(p.Lookup(bc.rcpt, "someone@sender.example", client)); got != bc.want {
			b.Fatalf("%s: got %s, want %s", bc.rcpt, got, bc.want)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Lookup(bc.rcpt, "someone@sender.example", client)
			}
		})
	}
}

// BenchmarkNew is the cost of a reload of 100,000 rules (not the parse).
func BenchmarkNew(b *testing.B) {
	rules := hostingRules()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := New(rules); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBuildIsQuickEnough guards against a quadratic shadow check: many
// rules at one key must not take long to build.
func TestBuildIsQuickEnough(t *testing.T) {
	rules := make([]Rule, 10_000)
	for i := range rules {
		rules[i] = Rule{Recipient: "*", Sender: fmt.Sprintf("s%d.example", i),
			ClientNetwork: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24), Source: fmt.Sprint(i)}
	}
	start := time.Now()
	if _, _, err := New(rules); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("building 10,000 rules at one key took %v", d)
	}
}
