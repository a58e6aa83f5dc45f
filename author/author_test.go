package author

import (
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		value     string
		domains   []string
		malformed bool
	}{
		{" admin@victim.example", []string{"victim.example"}, false},
		{" Admin <admin@Victim.Example>", []string{"victim.example"}, false},
		{" Admin <admin@Victim.Example.>", []string{"victim.example"}, true},
		{" a@one.example, b@two.example, c@ONE.example", []string{"one.example", "two.example"}, false},
		{` "admin@victim.example" <x@attacker.example>`, []string{"attacker.example"}, false},
		{` "admin@victim.example"@attacker.example`, []string{"attacker.example"}, false},
		{" =?utf-8?q?admin=40victim.example?= <x@attacker.example>", []string{"attacker.example"}, false},
		{" x@attacker.example (admin@victim.example)", []string{"attacker.example"}, false},
		{" undisclosed-recipients:;", nil, false},
		{" Team: a@one.example, b@two.example;", []string{"one.example", "two.example"}, false},
		// Broken fields, read as a client shows them.
		{" admin@victim.example (x", []string{"victim.example"}, true},
		{" Admin <admin@victim.example", []string{"victim.example"}, true},
		{" admin@victim.example <x@attacker.example>", []string{"attacker.example", "victim.example"}, true},
		{" <@a.example,@b.example:user@victim.example>", []string{"victim.example"}, true},
		{" <x@attacker.example> <admin@victim.example>", []string{"attacker.example", "victim.example"}, true},
		{` "<admin@victim.example>" x@attacker.example`, []string{"attacker.example"}, true},
		{" user@[192.0.2.1]", nil, false},
		{" undisclosed", nil, true},
		{"", nil, true},
	}
	for _, tt := range tests {
		f := Parse(tt.value)
		got := slices.Clone(f.Domains)
		slices.Sort(got)
		if !slices.Equal(got, tt.domains) || f.Malformed != tt.malformed {
			t.Errorf("Parse(%q) = %v malformed=%v, want %v malformed=%v", tt.value, got, f.Malformed, tt.domains, tt.malformed)
		}
	}
}

// FuzzParse checks that where a strict parse succeeds, it finds the same
// domains as the lenient reading of what a mail client displays: a
// disagreement is a field that the verdict and the reader see differently.
// Either way nothing panics and the work stays bounded.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		" admin@victim.example", ` "a@b.example" <c@d.example>`, " a@b.example (c", " <@r.example:u@v.example>",
		" G: a@b.example;", " =?utf-8?q?a=40b?= <c@d.example>", " a@b.example, c@d.example", ` "\"@x" <y@z.example>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		p := Parse(value)
		if len(p.Domains) > maxLenientAddrs && p.Malformed {
			t.Fatalf("lenient parse kept %d domains", len(p.Domains))
		}
		if p.Malformed {
			return
		}
		lenient := map[string]bool{}
		for _, d := range Lenient(value) {
			lenient[d] = true
		}
		if len(lenient) >= maxLenientAddrs {
			return
		}
		strict := map[string]bool{}
		for _, d := range p.Domains {
			strict[d] = true
		}
		for d := range strict {
			if !lenient[d] {
				t.Fatalf("%q: strict parse finds %q, a client shows %v", value, d, lenient)
			}
		}
		for d := range lenient {
			if !strict[d] {
				t.Fatalf("%q: a client shows %q, strict parse finds only %v", value, d, p.Domains)
			}
		}
	})
}
