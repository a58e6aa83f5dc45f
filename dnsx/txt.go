package dnsx

import (
	"strings"

	"github.com/miekg/dns"
)

// joinTXT returns the character-strings of one TXT record concatenated, as
// net.LookupTXT does (a DKIM key or an SPF record may span several).
func joinTXT(t *dns.TXT) string {
	if len(t.Txt) == 1 {
		return unescapeTXT(t.Txt[0])
	}
	// Grown once to the escaped length, which the raw bytes never exceed:
	// the string is kept in the cache, and a Builder grown by doubling
	// would keep up to twice its length.
	n := 0
	for _, s := range t.Txt {
		n += len(s)
	}
	var b strings.Builder
	b.Grow(n)
	for _, s := range t.Txt {
		b.WriteString(unescapeTXT(s))
	}
	return b.String()
}

// unescapeTXT undoes the escaping miekg applies when it decodes a TXT
// character-string: '"' and '\' get a backslash, and bytes outside printable
// ASCII become \DDD. Callers (SPF, DKIM, DMARC parsers) want the raw bytes
// that were on the wire, as net.LookupTXT returns them. The common string has
// no backslash and is returned as it is.
func unescapeTXT(s string) string {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for i < len(s) {
		c, n := nextTXTByte(s[i:])
		b = append(b, c)
		i += n
	}
	return string(b)
}

// nextTXTByte decodes the byte at the start of s (non-empty) and says how
// many bytes of s it took. A lone trailing backslash stands for itself;
// miekg never produces one.
func nextTXTByte(s string) (byte, int) {
	if s[0] != '\\' || len(s) == 1 {
		return s[0], 1
	}
	if len(s) >= 4 && isDigit(s[1]) && isDigit(s[2]) && isDigit(s[3]) {
		// Three digits are at most 999; miekg only writes 000-255, and a
		// larger value wraps as miekg's own encoder would have it.
		return (s[1]-'0')*100 + (s[2]-'0')*10 + (s[3] - '0'), 4
	}
	return s[1], 2
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
