package policy

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
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
	if isASCII(d) {
		return d, checkHostname(d) == nil
	}
	a, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return d, false
	}
	return a, checkHostname(a) == nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// keyDomain checks and normalizes a domain written by an admin: lower case,
// A-labels, and each label made of letters, digits, '-' and '_'.
func keyDomain(d string) (string, error) {
	d = strings.TrimSuffix(d, ".")
	a := strings.ToLower(d)
	if !isASCII(d) || strings.Contains(a, "xn--") {
		var err error
		if a, err = idna.Lookup.ToASCII(d); err != nil {
			return "", fmt.Errorf("%q is not a valid domain name: %w", d, err)
		}
		// An A-label is matched as written; one IDNA would rewrite
		// could never match, so it must be refused here.
		if isASCII(d) && a != strings.ToLower(d) {
			return "", fmt.Errorf("%q is not a valid domain name: bad A-label", d)
		}
	}
	if err := checkHostname(a); err != nil {
		return "", fmt.Errorf("%q is not a valid domain name: %w", d, err)
	}
	return a, nil
}

// checkHostname applies RFC 1035 lengths and a permissive character set
// ('_' is allowed: some internal names use it) to a lower-case A-label name.
func checkHostname(d string) error {
	if d == "" {
		return fmt.Errorf("empty")
	}
	if len(d) > 253 {
		return fmt.Errorf("longer than 253 characters")
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("label %q is empty or longer than 63 characters", label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("label %q has the character %q", label, c)
			}
		}
	}
	return nil
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
