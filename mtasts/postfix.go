package mtasts

import "strings"

// MaxPatterns is the most distinct mx patterns kept of one policy. RFC 8461 sets no
// limit, but a 64 KB policy can hold 8,730 of them, and real ones have a handful. The
// patterns past it are dropped (see limitPatterns for why dropping, not refusing the
// policy, is the safe side).
const MaxPatterns = 64

// rendering is a policy's Postfix answer, made once when the policy is fetched, with
// the mode and mx list it was made from. It is shared by every copy of the policy and
// never changed.
type rendering struct {
	mode   string
	mx     []string
	answer string
}

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
//
// For a policy Lookup returned, the answer was rendered when the policy was fetched,
// so a socketmap lookup does not repeat the work; a copy whose Mode or MX the caller
// changed is rendered anew.
func (p *Policy) PostfixPolicy() string {
	if p == nil {
		return ""
	}
	if r := p.rendered; r != nil && r.mode == p.Mode && equalStrings(r.mx, p.MX) {
		return r.answer
	}
	return p.renderPostfix()
}

// renderPostfix builds PostfixPolicy's answer, duplicate patterns dropped, in time
// linear in the number of patterns.
func (p *Policy) renderPostfix() string {
	if p.Mode != ModeEnforce || len(p.MX) == 0 {
		return ""
	}
	seen := make(map[string]bool, len(p.MX))
	var b strings.Builder
	b.WriteString("secure match=")
	for _, mx := range p.MX {
		pat := strings.TrimPrefix(mx, "*")
		if seen[pat] {
			continue
		}
		if len(seen) > 0 {
			b.WriteByte(':')
		}
		seen[pat] = true
		b.WriteString(pat)
	}
	b.WriteString(" servername=hostname")
	return b.String()
}

// render stores the policy's Postfix answer in it; the MX list must not change after.
func (p *Policy) render() {
	p.rendered = &rendering{mode: p.Mode, mx: p.MX, answer: p.renderPostfix()}
}

// equalStrings is slices.Equal; for a copy of a rendered policy the strings share
// their bytes, so each comparison stops at the pointer.
func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// limitPatterns drops duplicate mx patterns and keeps at most MaxPatterns distinct
// ones, in the policy's order; it returns how many distinct patterns were dropped.
//
// Dropping patterns keeps the domain's mode enforce: Postfix still requires a verified
// certificate, only fewer MX names are allowed, so delivery to an MX that only a dropped
// pattern matched is deferred (Postfix retries; the mail is not lost) and never goes
// out in cleartext. Refusing the whole policy would also never be weaker than Postfix
// alone (RFC 8461 3.3: no policy, Postfix's own TLS level), but it would throw away
// the domain's demand for TLS on every MX. Policies list their primary MX hosts first.
func (p *Policy) limitPatterns() (dropped int) {
	seen := make(map[string]bool, min(len(p.MX), MaxPatterns))
	kept := p.MX[:0]
	for _, mx := range p.MX {
		switch {
		case seen[mx]:
		case len(seen) >= MaxPatterns:
			seen[mx] = true
			dropped++
		default:
			seen[mx] = true
			kept = append(kept, mx)
		}
	}
	clear(p.MX[len(kept):])
	p.MX = kept
	return dropped
}
