// Package authres writes the Authentication-Results header field (RFC 8601)
// and reads the authserv-id of existing ones.
//
// go-msgauth's authres package formats some results wrongly and cannot parse
// an authserv-id followed by a comment (see docs), so the little we need is
// written here.
package authres

import (
	"strings"
)

// Prop is one property of a result, e.g. smtp.mailfrom=user@example.org.
type Prop struct {
	Type  string // "smtp", "header", "policy", …
	Name  string // "mailfrom", "helo", "d", …
	Value string
}

// Entry is one resinfo: method=result, an optional reason and properties.
type Entry struct {
	Method string // "spf", "dkim", "dmarc", "iprev", …
	Result string // "pass", "fail", "none", …
	Reason string // free text, written as reason="…"
	Props  []Prop
	// Comment is written last, in parentheses (e.g. iprev's host name).
	Comment string
}

// Format returns the header field value (without "Authentication-Results:")
// for the given results. Each resinfo starts on a folded line so that the
// header stays under the 78-column recommendation most of the time. With no
// entries, the value is "ID; none" as RFC 8601 section 2.2 requires.
func Format(authservID string, entries []Entry) string {
	var b strings.Builder
	b.WriteString(authservID)
	if len(entries) == 0 {
		b.WriteString("; none")
		return b.String()
	}
	for _, e := range entries {
		b.WriteString(";\r\n\t")
		b.WriteString(e.Method)
		b.WriteByte('=')
		b.WriteString(e.Result)
		if e.Reason != "" {
			b.WriteString(" reason=")
			b.WriteString(quote(e.Reason))
		}
		for _, p := range e.Props {
			b.WriteByte(' ')
			b.WriteString(p.Type)
			b.WriteByte('.')
			b.WriteString(p.Name)
			b.WriteByte('=')
			b.WriteString(propValue(p.Value))
		}
		if e.Comment != "" {
			b.WriteString(" (")
			b.WriteString(commentText(e.Comment))
			b.WriteByte(')')
		}
	}
	return b.String()
}

// commentText keeps what may stand in an RFC 5322 comment unescaped:
// printable ASCII and spaces, without parentheses or backslashes (a host
// name, ARC's "as=N ams=N"). Control characters (CR, LF, tab) are dropped,
// so a comment can never split the header.
func commentText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' || r == '(' || r == ')' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

// propValue writes a pvalue: a token, an address (local-part@domain), or a
// quoted-string when it is neither (RFC 8601 section 2.2).
func propValue(v string) string {
	if isToken(v) {
		return v
	}
	if at := strings.LastIndexByte(v, '@'); at >= 0 {
		local, domain := v[:at], v[at+1:]
		if isToken(domain) && (local == "" || isDotAtom(local)) {
			return v
		}
	}
	return quote(v)
}

// quote writes s as an RFC 5322 quoted-string; control characters, which can
// come from hostile input, are dropped so that the header cannot be split.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < ' ' || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// isToken reports whether s is an RFC 2045 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// isDotAtom reports whether s is an RFC 5322 dot-atom.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"[]`, c) >= 0 {
			return false
		}
	}
	return true
}
