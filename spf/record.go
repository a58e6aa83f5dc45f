package spf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Record is a parsed, fully validated SPF record (RFC 7208 4.5, 4.6).
type Record struct {
	Directives []Directive       // the mechanisms with their qualifiers, in order (4.6.2)
	Redirect   *MacroString      // redirect= domain-spec, nil if absent (6.1)
	Exp        *MacroString      // exp= domain-spec, nil if absent (6.2)
	Unknown    []UnknownModifier // other modifiers, which evaluation ignores (6)
}

// Directive is a mechanism with its qualifier (4.6.2).
type Directive struct {
	Qualifier Qualifier
	Mechanism Mechanism
}

// UnknownModifier is a modifier that is neither redirect nor exp. Its value
// must be a valid macro-string but is never expanded (6, A).
type UnknownModifier struct {
	Name  string
	Value *MacroString
}

// Qualifier is a directive's prefix (4.6.2).
type Qualifier byte

// The qualifiers of RFC 7208 4.6.2.
const (
	QualifierPass     Qualifier = '+'
	QualifierFail     Qualifier = '-'
	QualifierSoftFail Qualifier = '~'
	QualifierNeutral  Qualifier = '?'
)

// Result is the result a matching mechanism gives (4.6.2).
func (q Qualifier) Result() Result {
	switch q {
	case QualifierFail:
		return Fail
	case QualifierSoftFail:
		return SoftFail
	case QualifierNeutral:
		return Neutral
	}
	return Pass
}

// Mechanism is one of the mechanisms of section 5: All, Include, A, MX, PTR,
// IP4, IP6 or Exists.
type Mechanism interface {
	String() string
	mechanism()
}

// All always matches (5.1).
type All struct{}

// Include matches when check_host() of its domain passes (5.2).
type Include struct{ Domain *MacroString }

// A matches when an A/AAAA record of Domain is in the client's network (5.3).
type A struct {
	Domain *MacroString // nil = the current <domain>
	CIDR4  int          // prefix length for IPv4, default 32
	CIDR6  int          // prefix length for IPv6, default 128
}

// MX matches when an address of one of Domain's MX hosts is in the client's network (5.4).
type MX struct {
	Domain *MacroString // nil = the current <domain>
	CIDR4  int
	CIDR6  int
}

// PTR matches when a validated name of the client ends in Domain (5.5).
type PTR struct {
	Domain *MacroString /* nil = the current <domain> */
}

// IP4 matches an IPv4 client in Net (5.6).
type IP4 struct{ Net netip.Prefix }

// IP6 matches an IPv6 client in Net (5.6).
type IP6 struct{ Net netip.Prefix }

// Exists matches when Domain has an A record (5.7).
type Exists struct{ Domain *MacroString }

func (All) mechanism()     {}
func (Include) mechanism() {}
func (A) mechanism()       {}
func (MX) mechanism()      {}
func (PTR) mechanism()     {}
func (IP4) mechanism()     {}
func (IP6) mechanism()     {}
func (Exists) mechanism()  {}

func (All) String() string       { return "all" }
func (m Include) String() string { return "include:" + m.Domain.String() }
func (m A) String() string       { return "a" + optDomain(m.Domain) + dualCIDR(m.CIDR4, m.CIDR6) }
func (m MX) String() string      { return "mx" + optDomain(m.Domain) + dualCIDR(m.CIDR4, m.CIDR6) }
func (m PTR) String() string     { return "ptr" + optDomain(m.Domain) }
func (m IP4) String() string     { return "ip4:" + prefixString(m.Net, 32) }
func (m IP6) String() string     { return "ip6:" + prefixString(m.Net, 128) }
func (m Exists) String() string  { return "exists:" + m.Domain.String() }

func optDomain(d *MacroString) string {
	if d == nil {
		return ""
	}
	return ":" + d.String()
}

func dualCIDR(c4, c6 int) string {
	s := ""
	if c4 != 32 {
		s += "/" + strconv.Itoa(c4)
	}
	if c6 != 128 {
		s += "//" + strconv.Itoa(c6)
	}
	return s
}

func prefixString(p netip.Prefix, full int) string {
	if p.Bits() == full {
		return p.Addr().String()
	}
	return p.String()
}

// String writes the directive with its qualifier; "+" is left out.
func (d Directive) String() string {
	if d.Qualifier == QualifierPass {
		return d.Mechanism.String()
	}
	return string(d.Qualifier) + d.Mechanism.String()
}

// String writes the record in a canonical form: mechanisms in order, then
// the modifiers.
func (r *Record) String() string {
	var b strings.Builder
	b.WriteString("v=spf1")
	for _, d := range r.Directives {
		b.WriteString(" " + d.String())
	}
	if r.Redirect != nil {
		b.WriteString(" redirect=" + r.Redirect.String())
	}
	if r.Exp != nil {
		b.WriteString(" exp=" + r.Exp.String())
	}
	for _, m := range r.Unknown {
		b.WriteString(" " + m.Name + "=" + m.Value.String())
	}
	return b.String()
}

// SyntaxError describes why a record is invalid; check_host() gives permerror.
type SyntaxError struct {
	Term string // the offending term, "" for the record as a whole
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.Term == "" {
		return "spf: " + e.Msg
	}
	return fmt.Sprintf("spf: term %q: %s", e.Term, e.Msg)
}

// isSPFRecord reports whether a TXT string is an SPF version 1 record: it
// starts with "v=spf1" (case-insensitively) ended by a space or the end (4.5).
func isSPFRecord(txt string) bool {
	const v = "v=spf1"
	if len(txt) < len(v) || asciiLower(txt[:len(v)]) != v {
		return false
	}
	return len(txt) == len(v) || txt[len(v)] == ' '
}

// Parse parses and validates a whole SPF record, starting with "v=spf1".
// Terms are separated by one or more spaces (4.6.1); any other byte outside
// the printable ASCII range makes the record invalid (3.1, 4.6.1).
func Parse(record string) (*Record, error) {
	if !isSPFRecord(record) {
		return nil, &SyntaxError{Msg: `record does not start with "v=spf1"`}
	}
	rec := &Record{}
	for _, term := range strings.Split(record[len("v=spf1"):], " ") {
		if term == "" {
			continue
		}
		if err := rec.addTerm(term); err != nil {
			return nil, &SyntaxError{Term: term, Msg: err.Error()}
		}
	}
	return rec, nil
}

// addTerm parses one term: a modifier when a name is followed by "=", a
// directive otherwise (4.6.1, 12: name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )).
func (r *Record) addTerm(term string) error {
	for i := 0; i < len(term); i++ {
		if term[i] < 0x21 || term[i] > 0x7e {
			return fmt.Errorf("invalid byte 0x%02X: only printable ASCII is allowed (3.1, 4.6.1)", term[i])
		}
	}
	n := nameLen(term)
	if n > 0 && n < len(term) && term[n] == '=' {
		return r.addModifier(asciiLower(term[:n]), term[n+1:])
	}
	d, err := parseDirective(term)
	if err != nil {
		return err
	}
	r.Directives = append(r.Directives, d)
	return nil
}

// nameLen is the length of the modifier name at the start of s, 0 if none.
func nameLen(s string) int {
	if s == "" || !isAlpha(s[0]) {
		return 0
	}
	i := 1
	for i < len(s) && (isAlpha(s[i]) || isDigit(s[i]) || strings.IndexByte("-_.", s[i]) >= 0) {
		i++
	}
	return i
}

// addModifier adds redirect=, exp= or an unknown modifier (6). redirect and
// exp may each appear once and take a domain-spec; they are never parsed as
// unknown modifiers.
func (r *Record) addModifier(name, value string) error {
	switch name {
	case "redirect", "exp":
		ds, err := parseDomainSpec(value)
		if err != nil {
			return err
		}
		slot := &r.Redirect
		if name == "exp" {
			slot = &r.Exp
		}
		if *slot != nil {
			return fmt.Errorf("%s= appears more than once (6)", name)
		}
		*slot = ds
	default:
		ms, err := parseMacroString(value, macroAny)
		if err != nil {
			return err
		}
		r.Unknown = append(r.Unknown, UnknownModifier{Name: name, Value: ms})
	}
	return nil
}

// parseDirective parses [ qualifier ] mechanism (4.6.2, 5).
func parseDirective(term string) (Directive, error) {
	d := Directive{Qualifier: QualifierPass}
	if term != "" && strings.IndexByte("+-~?", term[0]) >= 0 {
		d.Qualifier = Qualifier(term[0])
		term = term[1:]
	}
	end := strings.IndexAny(term, ":/")
	if end < 0 {
		end = len(term)
	}
	name, arg := asciiLower(term[:end]), term[end:]
	m, err := parseMechanism(name, arg)
	d.Mechanism = m
	return d, err
}

// parseMechanism parses a mechanism's argument: arg is "" or starts with ":" or "/".
func parseMechanism(name, arg string) (Mechanism, error) {
	switch name {
	case "all":
		if arg != "" {
			return nil, fmt.Errorf("all takes no argument (5.1)")
		}
		return All{}, nil
	case "include", "exists":
		ds, err := requiredDomain(name, arg)
		if err != nil {
			return nil, err
		}
		if name == "include" {
			return Include{ds}, nil
		}
		return Exists{ds}, nil
	case "a", "mx":
		return parseAMX(name, arg)
	case "ptr":
		ds, err := optionalDomain(arg)
		return PTR{ds}, err
	case "ip4", "ip6":
		return parseIP(name, arg)
	case "":
		return nil, fmt.Errorf("missing mechanism name")
	}
	return nil, fmt.Errorf("unknown mechanism %q", name)
}

// requiredDomain parses ":" domain-spec.
func requiredDomain(name, arg string) (*MacroString, error) {
	if !strings.HasPrefix(arg, ":") {
		return nil, fmt.Errorf("%s needs \":\" and a domain", name)
	}
	return parseDomainSpec(arg[1:])
}

// optionalDomain parses [ ":" domain-spec ].
func optionalDomain(arg string) (*MacroString, error) {
	if arg == "" {
		return nil, nil
	}
	if arg[0] != ':' {
		return nil, fmt.Errorf("unexpected %q", arg)
	}
	return parseDomainSpec(arg[1:])
}

// parseAMX parses a and mx: [ ":" domain-spec ] [ dual-cidr-length ] (5.3, 5.4).
// The CIDR lengths are taken from the end, since a domain-spec may itself
// contain "/".
func parseAMX(name, arg string) (Mechanism, error) {
	rest, c4, c6, err := splitDualCIDR(arg)
	if err != nil {
		return nil, err
	}
	ds, err := optionalDomain(rest)
	if err != nil {
		return nil, err
	}
	if name == "a" {
		return A{ds, c4, c6}, nil
	}
	return MX{ds, c4, c6}, nil
}

// splitDualCIDR removes dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ]
// from the end of s.
func splitDualCIDR(s string) (rest string, c4, c6 int, err error) {
	c4, c6 = 32, 128
	if i := strings.LastIndex(s, "//"); i >= 0 && allDigits(s[i+2:]) {
		if c6, err = parseCIDR(s[i+2:], 128); err != nil {
			return "", 0, 0, err
		}
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '/'); i >= 0 && allDigits(s[i+1:]) {
		if c4, err = parseCIDR(s[i+1:], 32); err != nil {
			return "", 0, 0, err
		}
		s = s[:i]
	}
	return s, c4, c6, nil
}

// parseCIDR parses a prefix length: no leading zeros, at most max (5.6).
func parseCIDR(s string, max int) (int, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || len(s) > 3 {
		return 0, fmt.Errorf("invalid prefix length %q", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > max {
		return 0, fmt.Errorf("invalid prefix length %q", s)
	}
	return n, nil
}

// parseIP parses ip4 and ip6: ":" network [ "/" length ] (5.6).
func parseIP(name, arg string) (Mechanism, error) {
	if !strings.HasPrefix(arg, ":") {
		return nil, fmt.Errorf("%s needs \":\" and an address", name)
	}
	addrText, bits := arg[1:], -1
	if i := strings.LastIndexByte(addrText, '/'); i >= 0 {
		full := 32
		if name == "ip6" {
			full = 128
		}
		n, err := parseCIDR(addrText[i+1:], full)
		if err != nil {
			return nil, err
		}
		addrText, bits = addrText[:i], n
	}
	addr, err := netip.ParseAddr(addrText)
	if err != nil || addr.Zone() != "" || addr.Is4() != (name == "ip4") {
		return nil, fmt.Errorf("invalid %s address %q", name, addrText)
	}
	if bits < 0 {
		bits = addr.BitLen()
	}
	p := netip.PrefixFrom(addr, bits)
	if name == "ip4" {
		return IP4{p}, nil
	}
	return IP6{p}, nil
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
