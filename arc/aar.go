package arc

import "strings"

// Method is one resinfo of an ARC-Authentication-Results (or any
// Authentication-Results) value: method=result and its properties.
type Method struct {
	Method, Result string
	// Props maps "ptype.property" (lower case) to its value, e.g.
	// "header.d" → "example.org", "smtp.mailfrom" → "a@example.org".
	Props map[string]string
}

// maxMethods bounds what ParseResults reads of a hostile AAR.
const maxMethods = 64

// ParseResults reads an Authentication-Results payload ("authserv-id;
// method=result ptype.prop=value …; …", RFC 8601 2.2) leniently:
// comments are dropped, quoted strings kept whole, unknown shapes skipped.
// It only feeds a trust decision that also needs a passing chain sealed
// by a trusted domain, so leniency costs nothing but a missed override.
func ParseResults(payload string) (authservID string, methods []Method) {
	parts := splitResinfo(stripComments(payload))
	if len(parts) == 0 {
		return "", nil
	}
	authservID = strings.TrimSpace(parts[0])
	if f := strings.Fields(authservID); len(f) > 0 {
		authservID = f[0] // "example.org 1" (authres-version)
	}
	for _, p := range parts[1:] {
		toks := fieldsQuoted(p)
		if len(toks) == 0 {
			continue
		}
		method, result, ok := strings.Cut(toks[0], "=")
		if !ok {
			continue
		}
		method, _, _ = strings.Cut(method, "/") // method/version
		m := Method{Method: strings.ToLower(strings.TrimSpace(method)), Result: strings.ToLower(strings.TrimSpace(result)), Props: map[string]string{}}
		for _, t := range toks[1:] {
			k, v, ok := strings.Cut(t, "=")
			if !ok || !strings.Contains(k, ".") {
				continue // reason=…, or noise
			}
			m.Props[strings.ToLower(k)] = strings.Trim(v, `"`)
		}
		methods = append(methods, m)
		if len(methods) == maxMethods {
			break
		}
	}
	return authservID, methods
}

// stripComments removes RFC 5322 comments (nested, with quoted pairs),
// outside quoted strings.
func stripComments(s string) string {
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (depth > 0 || quoted) && i+1 < len(s):
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
		case c == '"' && depth == 0:
			quoted = !quoted
			b.WriteByte(c)
		case c == '(' && !quoted:
			depth++
		case c == ')' && !quoted && depth > 0:
			depth--
			b.WriteByte(' ')
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// splitResinfo splits on ";" outside quoted strings.
func splitResinfo(s string) []string {
	var parts []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ';':
			if !quoted {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// fieldsQuoted splits on white space outside quoted strings, and joins
// "a = b" into "a=b".
func fieldsQuoted(s string) []string {
	var toks []string
	var cur strings.Builder
	quoted := false
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quoted = !quoted
			cur.WriteByte(c)
		case !quoted && (c == ' ' || c == '\t' || c == '\r' || c == '\n'):
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	// Rejoin "a" "=" "b" and "a=" "b" and "a" "=b".
	var out []string
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		for i+1 < len(toks) && (strings.HasSuffix(t, "=") || strings.HasPrefix(toks[i+1], "=")) {
			t += toks[i+1]
			i++
		}
		out = append(out, t)
	}
	return out
}
