// Package author finds the Author Domains of an RFC 5322 From field the way
// a mail client displays them, for DMARC (RFC 9989 3.2.3). It is strict
// where the field is well formed and lenient where it is not: a field that
// a parser rejects is still shown by mail clients, so a verdict that needs
// a perfect field is one an attacker turns off with one stray parenthesis.
package author

import (
	"strings"

	"github.com/emersion/go-message/mail"
)

// Field is what one From field tells DMARC.
type Field struct {
	// Domains are the distinct domains of the field's addresses, lower-cased,
	// in the order they appear. Empty when no address has a domain.
	Domains []string
	// Malformed: a strict RFC 5322 parse failed, the domains come from the
	// lenient reading.
	Malformed bool
}

// Parse reads one From field value (as Postfix passes it: leading space
// kept, folded lines joined with "\n").
func Parse(value string) Field {
	strict, err := mail.ParseAddressList(strings.TrimSpace(value))
	if err == nil {
		var f Field
		for _, a := range strict {
			f.add(domainOf(a.Address))
		}
		return f
	}
	f := Field{Malformed: true}
	for _, d := range Lenient(value) {
		f.add(d)
	}
	return f
}

func (f *Field) add(d string) {
	if d == "" {
		return
	}
	for _, have := range f.Domains {
		if have == d {
			return
		}
	}
	f.Domains = append(f.Domains, d)
}

// domainOf is the lower-cased part after the last "@", without a trailing
// dot; "" for none or a domain literal ([192.0.2.1] names no domain).
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	d := strings.TrimSuffix(strings.ToLower(addr[i+1:]), ".")
	if d == "" || strings.HasPrefix(d, "[") {
		return ""
	}
	return d
}
