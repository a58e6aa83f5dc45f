package mtasts

import "strings"

// Matches reports whether the MX host name mx is allowed by one of the policy's mx
// patterns (RFC 8461 4.1): an exact match, or "*.example.net" matching a name with
// exactly one more leftmost label ("mx1.example.net", not "a.mx1.example.net" nor
// "example.net"). Names compare case-insensitively; a trailing dot is ignored.
func (p *Policy) Matches(mx string) bool {
	host := strings.ToLower(strings.TrimSuffix(mx, "."))
	for _, pat := range p.MX {
		if matchPattern(pat, host) {
			return true
		}
	}
	return false
}

func matchPattern(pat, host string) bool {
	suffix, wild := strings.CutPrefix(pat, "*")
	if !wild {
		return pat == host
	}
	label, rest, ok := strings.Cut(host, ".")
	return ok && label != "" && "."+rest == suffix
}
