package dnstest

import (
	"strings"

	"github.com/miekg/dns"
)

// canonicalName returns the form names are stored and matched under: fully
// qualified, ASCII lower-cased, and in the presentation form miekg's wire
// decoder produces. Going through the wire format makes "a\032b.", "a\ b."
// and a raw "a b." the same key, which matters for the odd names of the SPF
// test suite. A name the wire format cannot hold is kept as written (lower-
// cased): it can never be asked for, so it merely never matches.
func canonicalName(name string) string {
	fqdn := dns.Fqdn(name)
	var buf [255]byte
	off, err := dns.PackDomainName(fqdn, buf[:], 0, nil, false)
	if err != nil {
		return lowerASCII(fqdn)
	}
	s, _, err := dns.UnpackDomainName(buf[:off], 0)
	if err != nil {
		return lowerASCII(fqdn)
	}
	return lowerASCII(s)
}

// lowerASCII lower-cases A-Z only: DNS names compare case-insensitively in
// ASCII alone (RFC 4343), and the presentation form escapes every other byte.
func lowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// parent returns the canonical name one label up, and false at the root.
// dns.NextLabel skips escaped dots, so "a\.b.example." has parent "example.".
func parent(name string) (string, bool) {
	if name == "." {
		return "", false
	}
	off, end := dns.NextLabel(name, 0)
	if end {
		return ".", true
	}
	return name[off:], true
}
