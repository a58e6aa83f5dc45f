package spf

import (
	"errors"
	"net"
	"strings"
)

// lookupKind classifies a resolver error.
type lookupKind int

const (
	lookupOK        lookupKind = iota
	lookupNotFound             // NXDOMAIN or NODATA: a void lookup (4.6.4)
	lookupTemporary            // timeout, SERVFAIL, anything else: temperror (4.4)
)

// classify sorts a resolver error into the cases RFC 7208 distinguishes.
func classify(err error) lookupKind {
	if err == nil {
		return lookupOK
	}
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound && !de.IsTimeout && !de.IsTemporary {
		return lookupNotFound
	}
	return lookupTemporary
}

// validName tells whether name can be sent in a DNS query: 1 to 253
// characters, labels of 1 to 63 characters (RFC 1035 2.3.4).
func validName(name string) bool {
	if name == "" || len(name) > maxDomainName {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
	}
	return true
}

// checkDomain checks the <domain> of check_host() (4.3) and says what is
// wrong with it, "" if nothing. Beyond DNS validity it must have at least two
// labels, and neither be a domain literal nor end in an all-numeric label
// (an IP address is not a domain).
func checkDomain(domain string) string {
	switch {
	case domain == "":
		return "empty"
	case !validName(domain):
		return "empty label, label longer than 63 or name longer than 253 characters"
	case strings.HasPrefix(domain, "["):
		return "domain literal"
	case !strings.Contains(domain, "."):
		return "not a multi-label domain name"
	case allDigits(domain[strings.LastIndexByte(domain, '.')+1:]):
		return "all-numeric top label"
	}
	return ""
}

// asciiLower lower-cases ASCII letters only; DNS names compare
// case-insensitively in ASCII and other bytes stay as they are (RFC 4343).
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
