package recipients

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"spamgate/internal/domainname"
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
	a.domain = strings.TrimSuffix(s[at+1:], ".")
	if d, err := domainname.Normalize(a.domain); err == nil {
		a.domain, a.domOK = d, true
	}
	// Like Postfix: split at the first delimiter, but not when it leads.
	if plus := strings.IndexByte(a.local, '+'); plus > 0 {
		a.base = a.local[:plus]
	}
	return a
}

// checkLocal refuses local parts no mailbox can have: empty, not UTF-8,
// or with white space, control characters or angle brackets (those delimit
// the envelope path: parseAddress strips them, so a table entry with one
// could never match). Quoted local parts with spaces are not supported:
// nobody hands those out.
func checkLocal(l string) error {
	if l == "" {
		return errors.New("empty local part")
	}
	if !utf8.ValidString(l) {
		return errors.New("local part is not UTF-8")
	}
	for _, r := range l {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '<' || r == '>' {
			return fmt.Errorf("local part has the character %q", r)
		}
	}
	return nil
}
