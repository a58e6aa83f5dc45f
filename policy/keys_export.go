package policy

import "slices"

// Keys returns the recipient keys of rcpt in lookup order, most specific
// first, exactly as Lookup tries them: the full address (lower-cased, IDN
// domain in A-labels), the address without its +extension (only when there
// is one), the domain, the parent domains closest first (".sub.example.org",
// ".example.org", ".org"), then "*".
//
// It exists for rule sources outside this package (a Redis hash per key)
// that must follow the same order. It is built from the very helpers Lookup
// uses (splitAddress, parents), so the two orders cannot drift apart; a test
// holds them together. A recipient without a usable domain (no '@', an
// address literal, a malformed name) gets only its address key, if any, and
// "*", as in Lookup.
func Keys(rcpt string) []string {
	a := splitAddress(rcpt)
	keys := make([]string, 0, 8) // room for user+ext@x.sub.example.org without growing
	// These conditions mirror matcher.address and matcher.domain.
	if a.full != "" && a.domain != "" {
		keys = append(keys, a.full)
		if a.base != "" {
			keys = append(keys, a.base+"@"+a.domain)
		}
	}
	if a.valid {
		keys = append(keys, a.domain)
		parents(a.domain, func(key string) bool {
			keys = append(keys, key)
			return true
		})
	}
	return append(keys, "*")
}

// KeyRank returns the position of key in Keys(rcpt), or -1 when key is not
// one of them: the lower, the more specific. A caller that has a rule from
// the policy files and one from another source compares their ranks to pick
// the most specific, as one Lookup over both would.
//
// key may be written as a rule's Recipient is ("Bob@Example.org",
// "bücher.example"): when it is not found as given, it is normalized as New
// normalizes a Recipient and looked for again.
func KeyRank(rcpt, key string) int {
	keys := Keys(rcpt)
	if i := slices.Index(keys, key); i >= 0 {
		return i
	}
	norm, err := recipientKey(key)
	if err != nil || norm == key {
		return -1 // a Recipient New refuses, or one already looked for
	}
	return slices.Index(keys, norm)
}
