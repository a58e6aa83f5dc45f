package dnsx

import (
	"strings"

	"github.com/miekg/dns"
)

// key identifies a question in the cache: the canonical name (lower-case
// presentation form, without its trailing dot so that the common input needs
// no allocation) and the query type.
type key struct {
	name  string
	qtype uint16
}

// fqdn is the name to put in the question.
func (k key) fqdn() string { return k.name + "." }

// maxPlainName is the longest dotless presentation name whose wire form fits
// in 255 bytes: 253 characters.
const maxPlainName = 253

// canonicalName returns name lower-cased, without its trailing dot, in the
// presentation form miekg's wire decoder produces; false if name cannot be a
// domain name. Plain host names, the common case, take a fast path that does
// not allocate unless the name has upper-case letters.
func canonicalName(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	if n := strings.TrimSuffix(name, "."); isPlain(n) {
		return strings.ToLower(n), true
	}
	return canonicalSlow(name)
}

// isPlain reports whether s is a host name made of letters, digits, '-' and
// '_' in labels of 1 to 63 bytes: its presentation form is itself, and it
// fits the wire format.
func isPlain(s string) bool {
	if len(s) == 0 || len(s) > maxPlainName {
		return false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
		if label++; label > 63 {
			return false
		}
	}
	return label > 0
}

// canonicalSlow runs name through the wire format and back, which
// validates it and gives every byte miekg's one escaping: "a\032b", "a\ b"
// and a raw "a b" all become "a\ b", as the name of an answer will be.
func canonicalSlow(name string) (string, bool) {
	var buf [255]byte
	off, err := dns.PackDomainName(dns.Fqdn(name), buf[:], 0, nil, false)
	if err != nil {
		return "", false
	}
	s, _, err := dns.UnpackDomainName(buf[:off], 0)
	if err != nil {
		return "", false
	}
	return strings.TrimSuffix(lowerASCII(s), "."), true
}

// lowerASCII lower-cases A-Z only (RFC 4343); the presentation form has
// escaped every byte outside printable ASCII.
func lowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}
