package policy

import (
	"strings"

	"golang.org/x/net/idna"

	"spamgate/internal/domainname"
)

// address is an envelope address split for lookups, in lookup form: lower
// case, domain in A-labels. An address without '@' has only local.
type address struct {
	full   string // local@domain, or "" when there is no domain
	local  string
	base   string // local part without its +extension; "" when there is none
	domain string
	valid  bool // domain usable for domain and parent-domain keys
}

// splitAddress prepares an address from the SMTP envelope (angle brackets
// tolerated). It never fails: a broken domain just matches no domain key.
// For the usual lower-case ASCII address it does not allocate.
func splitAddress(s string) address {
	s = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">"))
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return address{local: s}
	}
	s = strings.TrimSuffix(s, ".")
	a := address{local: s[:at], full: s}
	a.domain, a.valid = lookupDomain(s[at+1:])
	if a.domain != s[at+1:] {
		a.full = a.local + "@" + a.domain // an IDN, now in A-labels
	}
	// Like Postfix, split at the first delimiter, and not when it leads.
	if plus := strings.IndexByte(a.local, '+'); plus > 0 {
		a.base = a.local[:plus]
	}
	return a
}

// lookupDomain returns the lookup form of a lower-cased domain from the
// envelope. Address literals ([192.0.2.1]) and malformed names are not
// valid: they can match no key but "*".
func lookupDomain(d string) (string, bool) {
	if d == "" || d[0] == '[' {
		return d, false
	}
	if domainname.IsASCII(d) {
		return d, domainname.Check(d) == nil
	}
	a, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return d, false
	}
	return a, domainname.Check(a) == nil
}

// parents calls yield with the parent-domain keys of a lookup-form domain,
// closest first: "x.sub.example.org" gives ".sub.example.org",
// ".example.org", ".org". It stops when yield returns false.
func parents(domain string, yield func(key string) bool) bool {
	for i := strings.IndexByte(domain, '.'); i >= 0; {
		if !yield(domain[i:]) {
			return false
		}
		next := strings.IndexByte(domain[i+1:], '.')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return true
}
