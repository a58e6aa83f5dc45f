package recipients

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// maxAddress is the longest forward-path RFC 5321 allows (256 octets with
// the angle brackets). Longer input cannot be a mailbox: it is Unknown
// without a query.
const maxAddress = 254

// address is an envelope address in lookup form: lower case, the domain in
// A-labels, no angle brackets, no trailing dot.
type address struct {
	local  string
	domain string // "" when the address has no '@'
	base   string // local part without its +extension; "" when there is none
	hasAt  bool
	domOK  bool // domain is a valid host name (else it is nobody's)
}

func (a address) full() string { return a.local + "@" + a.domain }

// parseAddress prepares an address from the envelope. It never fails: a
// broken domain is just not one of ours.
func parseAddress(s string) address {
	s = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">"))
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return address{local: s}
	}
	a := address{local: s[:at], hasAt: true}
	d, err := lookupDomain(s[at+1:])
	a.domain, a.domOK = d, err == nil
	// Like Postfix: split at the first delimiter, but not when it leads.
	if plus := strings.IndexByte(a.local, '+'); plus > 0 {
		a.base = a.local[:plus]
	}
	return a
}

// lookupDomain returns a domain in lookup form, or an error saying why it
// is not a domain name.
func lookupDomain(d string) (string, error) {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	if !isASCII(d) || strings.Contains(d, "xn--") {
		a, err := idna.Lookup.ToASCII(d)
		if err != nil {
			return d, fmt.Errorf("%q is not a valid domain name: %w", d, err)
		}
		// An A-label that IDNA would rewrite could never match: refuse it.
		if isASCII(d) && a != d {
			return d, fmt.Errorf("%q is not a valid domain name: bad A-label", d)
		}
		d = a
	}
	if err := checkHostname(d); err != nil {
		return d, fmt.Errorf("%q is not a valid domain name: %w", d, err)
	}
	return d, nil
}

// checkHostname applies RFC 1035 lengths and a permissive character set
// ('_' is allowed: some internal names use it) to a lower-case A-label name.
func checkHostname(d string) error {
	if d == "" {
		return errors.New("empty")
	}
	if len(d) > 253 {
		return errors.New("longer than 253 characters")
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

// checkLocal refuses local parts no mailbox can have: empty, not UTF-8,
// or with white space or control characters. Quoted local parts with
// spaces are not supported: nobody hands those out.
func checkLocal(l string) error {
	if l == "" {
		return errors.New("empty local part")
	}
	if !utf8.ValidString(l) {
		return errors.New("local part is not UTF-8")
	}
	for _, r := range l {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("local part has the character %q", r)
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
