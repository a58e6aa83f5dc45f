package mtasts

import "strings"

// Limits of RFC 1035 2.3.4 on names.
const (
	maxLabelLen  = 63
	maxDomainLen = 253 // presentation form, without the trailing dot
)

// validDomain reports whether s is a "Domain" of RFC 5321 4.1.2, which mx values and
// policy domains are (RFC 8461 3.2; IDNs as A-labels): dot-separated labels of letters,
// digits and hyphens that neither begin nor end with a hyphen.
func validDomain(s string) bool {
	if s == "" || len(s) > maxDomainLen {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if !validLabel(label) {
			return false
		}
	}
	return true
}

func validLabel(l string) bool {
	if l == "" || len(l) > maxLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		if !isAlnum(l[i]) && l[i] != '-' {
			return false
		}
	}
	return true
}

// validPattern reports whether s is an mx value: ["*."] Domain (RFC 8461 3.2), the
// wildcard only as the whole leftmost label.
func validPattern(s string) bool {
	return validDomain(strings.TrimPrefix(s, "*."))
}

// normalizeDomain returns domain lower-cased, without a trailing dot, and whether it
// is a domain name at all (Postfix also looks up "[host]:port" next hops and ".parent"
// keys, which have no MTA-STS policy).
func normalizeDomain(domain string) (string, bool) {
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	return d, validDomain(d)
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
