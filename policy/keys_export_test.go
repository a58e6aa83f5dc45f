package policy

import (
	"slices"
	"testing"
)

// keysTests are recipients and their keys, most specific first; every step
// of the lookup order and every normalization of splitAddress is here.
var keysTests = []struct {
	rcpt string
	want []string
}{
	{"alice@example.org", []string{"alice@example.org", "example.org", ".org", "*"}},
	{"Bob+Lists@Example.ORG", []string{"bob+lists@example.org", "bob@example.org", "example.org", ".org", "*"}},
	{"bob+lists+x@example.org", []string{"bob+lists+x@example.org", "bob@example.org", "example.org", ".org", "*"}},
	{"+bob@example.org", []string{"+bob@example.org", "example.org", ".org", "*"}}, // a leading '+' is no delimiter
	{"<carol@x.sub.example.org.>", []string{"carol@x.sub.example.org", "x.sub.example.org", ".sub.example.org", ".example.org", ".org", "*"}},
	{"dave+x@a.b.example.net", []string{"dave+x@a.b.example.net", "dave@a.b.example.net", "a.b.example.net", ".b.example.net", ".example.net", ".net", "*"}},
	{"info@BÜCHER.example", []string{"info@xn--bcher-kva.example", "xn--bcher-kva.example", ".example", "*"}},
	{"root@localhost", []string{"root@localhost", "localhost", "*"}},
	// No usable domain: the address key (which no rule can have) and "*".
	{"user@[192.0.2.1]", []string{"user@[192.0.2.1]", "*"}},
	{"user@bad..example.org", []string{"user@bad..example.org", "*"}},
	{"postmaster", []string{"*"}},
	{"", []string{"*"}},
}

func TestKeys(t *testing.T) {
	for _, tt := range keysTests {
		if got := Keys(tt.rcpt); !slices.Equal(got, tt.want) {
			t.Errorf("Keys(%q) = %q, want %q", tt.rcpt, got, tt.want)
		}
	}
}

// TestKeysOrderIsLookupOrder holds Keys to Lookup: with one rule for every
// key of every recipient in the table (and some near misses), Lookup must
// find exactly Keys' rules, in Keys' order, as each found rule is removed.
func TestKeysOrderIsLookupOrder(t *testing.T) {
	candidates := []string{ // near misses: keys Lookup must never use for the table's recipients
		"sub.example.org", "org", ".x.sub.example.org", "example", "carol@sub.example.org",
		"lists@example.org", "bücher.example", ".localhost",
	}
	for _, tt := range keysTests {
		candidates = append(candidates, Keys(tt.rcpt)...)
	}
	var all []Rule
	seen := map[string]bool{}
	for _, k := range candidates {
		key, err := recipientKey(k)
		if err != nil || seen[key] {
			continue // an address with a broken domain is no valid Recipient
		}
		seen[key] = true
		all = append(all, Rule{Recipient: key, Source: key})
	}

	for _, tt := range keysTests {
		t.Run(tt.rcpt, func(t *testing.T) {
			var want []string // the keys a rule can have, in Keys' order
			for _, k := range Keys(tt.rcpt) {
				if key, err := recipientKey(k); err == nil {
					if key != k {
						t.Fatalf("Keys gave %q, not in lookup form (%q)", k, key)
					}
					want = append(want, k)
				}
			}
			var got []string
			rules := slices.Clone(all)
			for len(got) <= len(all) {
				r := mustNew(t, rules...).Lookup(tt.rcpt, "", addr(""))
				if r == nil {
					break
				}
				got = append(got, r.Recipient)
				rules = slices.DeleteFunc(rules, func(x Rule) bool { return x.Recipient == r.Recipient })
			}
			if !slices.Equal(got, want) {
				t.Errorf("Lookup found %q, Keys says %q", got, want)
			}
		})
	}
}

func TestKeyRank(t *testing.T) {
	tests := []struct {
		rcpt, key string
		want      int
	}{
		{"Bob+Lists@Example.org", "bob+lists@example.org", 0},
		{"Bob+Lists@Example.org", "bob@example.org", 1},
		{"Bob+Lists@Example.org", "Bob@Example.ORG", 1}, // written as a Recipient may be
		{"Bob+Lists@Example.org", "example.org", 2},
		{"Bob+Lists@Example.org", ".org", 3},
		{"Bob+Lists@Example.org", "*", 4},
		{"info@bücher.example", "bücher.example", 1},
		{"info@bücher.example", "xn--bcher-kva.example", 1},
		{"info@bücher.example", "BÜCHER.example.", 1},
		{"user@[192.0.2.1]", "user@[192.0.2.1]", 0},
		{"postmaster", "*", 0},
		// Not keys of the recipient.
		{"carol@example.org", ".example.org", -1}, // subdomains only
		{"carol@x.example.org", "example.org", -1},
		{"carol@example.org", "other.example", -1},
		{"carol@example.org", "@example.org", -1},
		{"carol@example.org", "", -1},
		{"bob@example.org", "bob+x@example.org", -1},
	}
	for _, tt := range tests {
		if got := KeyRank(tt.rcpt, tt.key); got != tt.want {
			t.Errorf("KeyRank(%q, %q) = %d, want %d", tt.rcpt, tt.key, got, tt.want)
		}
	}
}
