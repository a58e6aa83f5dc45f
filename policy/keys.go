package policy

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"spamgate/internal/domainname"
)

// recipientKey checks a rule's recipient and returns it in lookup form:
// "user@example.org", "example.org", ".example.org" or "*".
func recipientKey(k string) (string, error) {
	switch {
	case k == "*":
		return k, nil
	case k == "":
		return "", fmt.Errorf("empty recipient (write * for every recipient)")
	case strings.HasPrefix(k, "@"):
		return "", fmt.Errorf("recipient %q: write a domain without '@' (%s)", k, k[1:])
	}
	key, err := addressOrDomain(k)
	if err != nil {
		return "", fmt.Errorf("recipient %w", err)
	}
	return key, nil
}

// addressOrDomain normalizes "user@example.org", "example.org" or
// ".example.org" for use as a key or condition.
func addressOrDomain(k string) (string, error) {
	if strings.ContainsFunc(k, func(r rune) bool { return r <= ' ' || r == ',' || r == '"' || r == 0x7f }) {
		return "", fmt.Errorf("%q contains white space, a comma, a quote or a control character", k)
	}
	if !utf8.ValidString(k) {
		return "", fmt.Errorf("%q is not valid UTF-8", k)
	}
	local, domain, isAddr := cutLastAt(k)
	if isAddr && local == "" {
		return "", fmt.Errorf("%q has an empty local part", k)
	}
	if isAddr && domain == "" {
		return "", fmt.Errorf("%q: a local part alone (user@) is not supported; write user@domain", k)
	}
	dot := !isAddr && strings.HasPrefix(domain, ".")
	if dot {
		domain = domain[1:]
	}
	d, err := domainname.Normalize(domain)
	switch {
	case err != nil:
		return "", fmt.Errorf("%q: %w", k, err)
	case isAddr:
		return strings.ToLower(local) + "@" + d, nil
	case dot:
		return "." + d, nil
	}
	return d, nil
}

func cutLastAt(s string) (local, domain string, found bool) {
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		return s[:at], s[at+1:], true
	}
	return "", s, false
}

// condKind is the form of a sender condition.
type condKind uint8

const (
	anySender    condKind = iota // no condition
	nullSender                   // "<>": bounces
	senderAddr                   // "user@example.com"
	senderDomain                 // "example.com"
	senderParent                 // ".example.com": subdomains only
)

// senderCond is a parsed sender= condition; value is in lookup form.
type senderCond struct {
	kind  condKind
	value string
}

func parseSenderCond(s string) (senderCond, error) {
	switch {
	case s == "":
		return senderCond{}, nil
	case s == "<>":
		return senderCond{kind: nullSender}, nil
	case strings.HasPrefix(s, "@"):
		return senderCond{}, fmt.Errorf("sender %q: write a domain without '@' (%s)", s, s[1:])
	}
	v, err := addressOrDomain(s)
	if err != nil {
		return senderCond{}, fmt.Errorf("sender %w", err)
	}
	switch {
	case strings.Contains(v, "@"):
		return senderCond{kind: senderAddr, value: v}, nil
	case strings.HasPrefix(v, "."):
		return senderCond{kind: senderParent, value: v}, nil
	}
	return senderCond{kind: senderDomain, value: v}, nil
}

// match reports whether the envelope sender a (raw is as received)
// satisfies the condition.
func (c senderCond) match(raw string, a *address) bool {
	switch c.kind {
	case anySender:
		return true
	case nullSender:
		return raw == "" || raw == "<>"
	case senderAddr:
		return a.full == c.value || a.base != "" && isBaseOf(c.value, a.base, a.domain)
	case senderDomain:
		return a.valid && a.domain == c.value
	case senderParent:
		return a.valid && strings.HasSuffix(a.domain, c.value)
	}
	return false
}

// isBaseOf reports whether v == base+"@"+domain without building the string.
func isBaseOf(v, base, domain string) bool {
	return len(v) == len(base)+1+len(domain) && v[len(base)] == '@' &&
		strings.HasPrefix(v, base) && strings.HasSuffix(v, domain)
}
