package authres

import "strings"

// AuthservID returns the authserv-id at the start of an Authentication-Results
// value, skipping comments and folding white space (CFWS) as RFC 8601 allows:
// "example.org (comment); spf=pass" gives "example.org". The id may also be a
// quoted-string. ok is false when the value has no readable id.
func AuthservID(value string) (id string, ok bool) {
	s, ok := skipCFWS(value)
	if !ok || s == "" {
		return "", false
	}
	if s[0] == '"' {
		return quotedString(s[1:])
	}
	end := 0
	for end < len(s) && isIDChar(s[end]) {
		end++
	}
	if end == 0 {
		return "", false
	}
	return s[:end], true
}

// SameID compares two authserv-ids; they are domain-like, so case does not matter.
func SameID(a, b string) bool { return strings.EqualFold(a, b) }

func isIDChar(c byte) bool {
	return c > ' ' && c < 0x7f && strings.IndexByte(`()<>@,;:\"/[]?=`, c) < 0
}

// skipCFWS drops leading white space and (nested) comments. It fails on an
// unterminated comment.
func skipCFWS(s string) (string, bool) {
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" || s[0] != '(' {
			return s, true
		}
		depth := 0
		i := 0
		for ; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++ // quoted-pair: skip the next byte
			case '(':
				depth++
			case ')':
				depth--
			}
			if depth == 0 {
				break
			}
		}
		if depth != 0 || i >= len(s) {
			return "", false
		}
		s = s[i+1:]
	}
}

// quotedString reads the rest of a quoted-string whose opening quote is gone.
func quotedString(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 >= len(s) {
				return "", false
			}
			i++
			b.WriteByte(s[i])
		case '"':
			return b.String(), b.Len() > 0
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}
