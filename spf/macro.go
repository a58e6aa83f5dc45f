package spf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// MacroString is a parsed macro-string (RFC 7208 7.1): literal text and
// macro-expand elements. The zero value expands to "".
type MacroString struct {
	raw   string
	parts []macroPart
}

// macroPart is literal text (letter == 0) or one %{...} macro.
type macroPart struct {
	lit     string
	letter  byte // lower-case macro letter
	escape  bool // the letter was upper case: URL-escape the value (7.3)
	keep    int  // DIGIT transformer: keep this many right-hand parts; 0 = all
	reverse bool // "r" transformer
	delims  string
}

// String returns the macro-string as written.
func (m *MacroString) String() string {
	if m == nil {
		return ""
	}
	return m.raw
}

// macroMode says where a macro-string appears, which decides the letters and
// characters it may contain (7.1, 7.3).
type macroMode int

const (
	macroDomain  macroMode = iota // domain-spec: no c, r, t
	macroAny                      // unknown-modifier value: every letter
	macroExplain                  // explain-string: every letter, and SP
)

// maxKeep bounds the DIGIT transformer; a domain name has at most 127 labels.
const maxKeep = 128

// parseMacroString parses a macro-string (7.1):
//
//	macro-string = *( macro-expand / macro-literal )
//	macro-expand = ( "%{" macro-letter transformers *delimiter "}" ) / "%%" / "%_" / "%-"
//	macro-literal = %x21-24 / %x26-7E
func parseMacroString(s string, mode macroMode) (*MacroString, error) {
	m := &MacroString{raw: s}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '%':
			n, err := m.parsePercent(s[i:], mode)
			if err != nil {
				return nil, err
			}
			i += n
		case c == ' ' && mode == macroExplain, c >= 0x21 && c <= 0x7e:
			m.addLiteral(s[i : i+1])
			i++
		default:
			return nil, fmt.Errorf("invalid character %q", c)
		}
	}
	return m, nil
}

// parsePercent parses the macro-expand at the start of s and returns its length.
func (m *MacroString) parsePercent(s string, mode macroMode) (int, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf(`"%%" at the end (7.1)`)
	}
	switch s[1] {
	case '%':
		m.addLiteral("%")
		return 2, nil
	case '_':
		m.addLiteral(" ")
		return 2, nil
	case '-':
		m.addLiteral("%20")
		return 2, nil
	case '{':
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return 0, fmt.Errorf("unterminated macro %q", s)
		}
		p, err := parseMacroBody(s[2:end], mode)
		if err != nil {
			return 0, err
		}
		m.parts = append(m.parts, p)
		return end + 1, nil
	}
	return 0, fmt.Errorf(`"%%" must be followed by "{", "%%", "_" or "-" (7.1): %q`, s[:2])
}

// addLiteral appends literal text, merging it with a preceding literal.
func (m *MacroString) addLiteral(s string) {
	if n := len(m.parts); n > 0 && m.parts[n-1].letter == 0 {
		m.parts[n-1].lit += s
		return
	}
	m.parts = append(m.parts, macroPart{lit: s})
}

// parseMacroBody parses macro-letter transformers *delimiter, the text
// between "%{" and "}". ABNF literals are case-insensitive, so "R" reverses too.
func parseMacroBody(b string, mode macroMode) (macroPart, error) {
	if b == "" {
		return macroPart{}, fmt.Errorf("empty macro")
	}
	p := macroPart{letter: b[0] | 0x20, escape: 'A' <= b[0] && b[0] <= 'Z'}
	if !validLetter(b[0], mode) {
		return p, fmt.Errorf("invalid macro letter %q", b[0])
	}
	i := 1
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	if i > 1 {
		n, err := strconv.Atoi(b[1:i])
		if n == 0 && err == nil {
			return p, fmt.Errorf("macro transformer must not be zero (7.3)")
		}
		p.keep = min(n, maxKeep)
		if err != nil { // too many digits to count: keep all parts
			p.keep = maxKeep
		}
	}
	if i < len(b) && (b[i] == 'r' || b[i] == 'R') {
		p.reverse = true
		i++
	}
	p.delims = b[i:]
	for ; i < len(b); i++ {
		if strings.IndexByte(".-+,/_=", b[i]) < 0 {
			return p, fmt.Errorf("invalid macro delimiter %q", b[i])
		}
	}
	return p, nil
}

// validLetter reports whether c is a macro letter allowed in mode: c, r and
// t only in explanations (7.1, 7.3); unknown modifiers follow the ABNF.
func validLetter(c byte, mode macroMode) bool {
	switch c | 0x20 {
	case 's', 'l', 'o', 'd', 'i', 'p', 'v', 'h':
		return true
	case 'c', 'r', 't':
		return mode != macroDomain
	}
	return false
}

// literalTail returns the literal text after the last macro-expand of a
// syntactically valid macro-string.
func literalTail(raw string) string {
	tail := 0
	for i := 0; i < len(raw); i++ {
		if raw[i] != '%' {
			continue
		}
		if raw[i+1] == '{' {
			i += strings.IndexByte(raw[i:], '}')
		} else {
			i++
		}
		tail = i + 1
	}
	return raw[tail:]
}

// parseDomainSpec parses domain-spec = macro-string domain-end, where
// domain-end = ( "." toplabel [ "." ] ) / macro-expand (7.1).
func parseDomainSpec(s string) (*MacroString, error) {
	if s == "" {
		return nil, fmt.Errorf("empty domain-spec")
	}
	m, err := parseMacroString(s, macroDomain)
	if err != nil {
		return nil, err
	}
	tail := literalTail(s)
	if tail == "" {
		return m, nil // ends in a macro-expand
	}
	tail = strings.TrimSuffix(tail, ".")
	dot := strings.LastIndexByte(tail, '.')
	if dot < 0 || !isTopLabel(tail[dot+1:]) {
		return nil, fmt.Errorf("domain-spec %q does not end in a valid top label (7.1)", s)
	}
	return m, nil
}

// isTopLabel checks toplabel = ( *alphanum ALPHA *alphanum ) /
// ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) (7.1).
func isTopLabel(l string) bool {
	if l == "" {
		return false
	}
	alpha, dash := false, false
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case isAlpha(c):
			alpha = true
		case c == '-':
			dash = true
		case !isDigit(c):
			return false
		}
	}
	if dash {
		return l[0] != '-' && l[len(l)-1] != '-'
	}
	return alpha
}

// macroEnv holds the values the macro letters expand to (7.3).
type macroEnv struct {
	sender, local, senderDomain string // s, l, o
	domain                      string // d
	ip                          netip.Addr
	helo                        string           // h
	receiver                    string           // r
	now                         func() time.Time // t
	ptr                         func() string    // p, looked up only when used
}

// expand expands the macro-string (7.3, 7.4).
func (m *MacroString) expand(env *macroEnv) string {
	if m == nil {
		return ""
	}
	var b strings.Builder
	for _, p := range m.parts {
		if p.letter == 0 {
			b.WriteString(p.lit)
			continue
		}
		v := transform(env.value(p.letter), p)
		if p.escape {
			v = urlEscape(v)
		}
		b.WriteString(v)
	}
	return b.String()
}

// value returns the raw value of a macro letter (7.3).
func (env *macroEnv) value(letter byte) string {
	switch letter {
	case 's':
		return env.sender
	case 'l':
		return env.local
	case 'o':
		return env.senderDomain
	case 'd':
		return env.domain
	case 'i':
		return dottedIP(env.ip)
	case 'p':
		if env.ptr == nil {
			return "unknown"
		}
		return env.ptr()
	case 'v':
		if env.ip.Is4() {
			return "in-addr"
		}
		return "ip6"
	case 'h':
		return env.helo
	case 'c':
		return env.ip.String()
	case 'r':
		if env.receiver == "" {
			return "unknown"
		}
		return env.receiver
	case 't':
		if env.now == nil {
			return "0"
		}
		return strconv.FormatInt(env.now().Unix(), 10)
	}
	return ""
}

// transform applies the delimiters, the "r" and the DIGIT transformers:
// split on the delimiters (default "."), reverse, keep the right-hand parts,
// join with "." (7.3).
func transform(v string, p macroPart) string {
	if p.keep == 0 && !p.reverse && (p.delims == "" || p.delims == ".") {
		return v
	}
	delims := p.delims
	if delims == "" {
		delims = "."
	}
	parts := splitKeepEmpty(v, delims)
	if p.reverse {
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	if p.keep > 0 && p.keep < len(parts) {
		parts = parts[len(parts)-p.keep:]
	}
	return strings.Join(parts, ".")
}

// splitKeepEmpty splits v on any of the delimiter bytes, keeping empty parts.
func splitKeepEmpty(v, delims string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(v); i++ {
		if strings.IndexByte(delims, v[i]) >= 0 {
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	return append(parts, v[start:])
}

// dottedIP is the "i" macro: dotted quad for IPv4, 32 dot-separated
// lower-case nibbles for IPv6 (7.3).
func dottedIP(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	if ip.Is4() {
		return ip.String()
	}
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 63)
	for _, x := range ip.As16() {
		b = append(b, hex[x>>4], '.', hex[x&0xf], '.')
	}
	return string(b[:len(b)-1])
}

// urlEscape escapes every byte outside the URI "unreserved" set as %XX with
// upper-case hex digits (7.3, RFC 3986 2.3).
func urlEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || isDigit(c) || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}
