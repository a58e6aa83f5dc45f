package mtasts

import (
	"slices"
	"strings"
)

// PostfixPolicy renders the policy as a value for Postfix's smtp_tls_policy_maps
// (postconf(5), "TLS policy table"): mode "enforce" becomes
//
//	secure match=mx1.example.net:.example.net servername=hostname
//
// with the mx patterns as match patterns separated by ':' ("*.example.net" becomes
// Postfix's ".example.net", see the package doc for how the two differ) and SNI set to
// the MX host name (RFC 8461 7.1: "the SNI extension MUST contain the MX hostname").
// Modes "testing" and "none", and a nil policy, give "": no rule, the caller answers
// NOTFOUND and Postfix applies its default TLS level.
func (p *Policy) PostfixPolicy() string {
	if p == nil || p.Mode != ModeEnforce || len(p.MX) == 0 {
		return ""
	}
	var patterns []string
	for _, mx := range p.MX {
		pat := strings.TrimPrefix(mx, "*")
		if !slices.Contains(patterns, pat) {
			patterns = append(patterns, pat)
		}
	}
	return "secure match=" + strings.Join(patterns, ":") + " servername=hostname"
}
