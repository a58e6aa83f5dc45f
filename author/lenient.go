package author

import "strings"

// maxLenientAddrs bounds what Lenient collects from one field: a header
// field is bounded by Postfix's header_size_limit, but the caller's work
// per domain (DNS) must not grow with it.
const maxLenientAddrs = 64

// Lenient returns the domains of the addresses a mail client would show for
// a From value that may not parse: comments and quoted strings are read
// past (also when left unclosed, to the end of the value, as clients do),
// the value is split into list elements at top-level commas, and each
// element yields the address between its angle brackets (the last "@" in
// it, which also skips a route like "<@a.example:user@b.example>") and
// every bare word with an "@": a broken field may show either to the
// reader (`admin@victim.example <x@attacker.example>` is displayed whole),
// so both are judged. A group's "name:" and ";" are read past. Domains are
// lower-cased, duplicates kept, at most maxLenientAddrs.
func Lenient(value string) []string {
	var out []string
	for _, el := range elements(strings.TrimSpace(value)) {
		for _, a := range append(el.angles, el.bare...) {
			if d := domainOf(a); d != "" && len(out) < maxLenientAddrs {
				out = append(out, d)
			}
		}
	}
	return out
}

// element is one top-level list element: its angle-bracketed addresses and
// its bare words that contain "@". Quoted strings are kept as a stand-in
// ("q") so that `"a@b"@c.example` reads as the address q@c.example.
type element struct {
	angles []string
	bare   []string
}

// elements scans value once.
func elements(value string) []element {
	var (
		out   []element
		cur   element
		word  strings.Builder
		angle strings.Builder
		inAng bool
	)
	endWord := func() {
		if w := word.String(); strings.Contains(w, "@") {
			cur.bare = append(cur.bare, w)
		}
		word.Reset()
	}
	endElement := func() {
		endWord()
		if len(cur.angles) > 0 || len(cur.bare) > 0 {
			out = append(out, cur)
		}
		cur = element{}
	}
	for i := 0; i < len(value); i++ {
		c := value[i]
		switch {
		case c == '"':
			i = skipQuoted(value, i)
			if inAng {
				angle.WriteByte('q')
			} else {
				word.WriteByte('q')
			}
		case c == '(' && inAng:
			i = skipComment(value, i)
		case c == '<' && !inAng:
			endWord()
			inAng = true
			angle.Reset()
		case c == '>' && inAng:
			cur.angles = append(cur.angles, angle.String())
			inAng = false
		case inAng:
			if !isWSP(c) {
				angle.WriteByte(c)
			}
		case c == ',':
			endElement()
		case c == ':': // a group's display name ends here
			word.Reset()
		case c == ';': // the group ends
			endElement()
		case c == '(' || isWSP(c):
			// Folding white space and comments may stand around the "@"
			// and the dots of an address (RFC 5322 obs-local-part,
			// obs-domain): "admin @ victim.example" is one address.
			j := skipCFWS(value, i)
			w := word.String()
			joined := w != "" && (strings.HasSuffix(w, "@") || strings.HasSuffix(w, ".") ||
				j < len(value) && (value[j] == '@' || value[j] == '.'))
			if !joined {
				endWord()
			}
			i = j - 1
		default:
			word.WriteByte(c)
		}
	}
	if inAng { // "<admin@victim.example" unclosed: clients still show it
		cur.angles = append(cur.angles, angle.String())
	}
	endElement()
	return out
}

// skipQuoted returns the index of the quote closing the quoted string that
// opens at i, or the last index when it is not closed.
func skipQuoted(s string, i int) int {
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(s) - 1
}

// skipComment returns the index of the parenthesis closing the (nested)
// comment that opens at i, or the last index when it is not closed.
func skipComment(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return len(s) - 1
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// skipCFWS returns the index of the first byte at or after i that is
// neither white space nor inside a comment (len(s) at the end).
func skipCFWS(s string, i int) int {
	for i < len(s) {
		switch {
		case isWSP(s[i]):
			i++
		case s[i] == '(':
			i = skipComment(s, i) + 1
		default:
			return i
		}
	}
	return i
}
