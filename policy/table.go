package policy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
)

// maxLine bounds one physical line of a table file.
const maxLine = 64 << 10

// ParseTable reads a Postfix-style table (see the package documentation).
// name is used in every error ("name:line: …") and in each Rule's Source.
// Any bad line fails the whole table: the caller keeps the policy it has.
func ParseTable(name string, r io.Reader) ([]Rule, error) {
	p := tableParser{name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for sc.Scan() {
		p.line++
		p.physical(sc.Text())
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line longer than %d bytes", maxLine)
		}
		p.errs.add(fmt.Errorf("%s:%d: %w", name, p.line+1, err))
	}
	p.flush()
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	return p.rules, nil
}

// tableParser gathers the physical lines of each entry, then builds it.
type tableParser struct {
	name  string
	line  int
	rules []Rule
	errs  errorList
	cur   *entry // the entry being read; nil before the first
}

// entry is a key and its items, maybe spread over continuation lines.
type entry struct {
	key   string
	line  int
	items []item
	bad   bool // a line of it failed already: do not report it again
}

func (p *tableParser) physical(text string) {
	if p.line == 1 {
		text = strings.TrimPrefix(text, "\uFEFF") // a BOM from a Windows editor
	}
	text = strings.TrimRight(text, "\r")
	trimmed := strings.TrimLeft(text, " \t")
	if trimmed == "" || trimmed[0] == '#' {
		return // as in Postfix, an indented comment is a comment too
	}
	if isSpace(text[0]) {
		p.continuation(trimmed)
		return
	}
	p.flush()
	key, rest := text, ""
	if i := strings.IndexAny(text, " \t"); i >= 0 {
		key, rest = text[:i], text[i:]
	}
	p.cur = &entry{key: key, line: p.line}
	p.addItems(rest)
}

func (p *tableParser) continuation(text string) {
	if p.cur == nil {
		p.fail(p.line, fmt.Errorf("continuation line (starting with white space) without an entry above it"))
		return
	}
	p.addItems(text)
}

func (p *tableParser) addItems(text string) {
	items, err := splitItems(text, p.line)
	if err != nil {
		p.cur.bad = true
		p.fail(p.line, err)
		return
	}
	p.cur.items = append(p.cur.items, items...)
}

func (p *tableParser) fail(line int, err error) {
	p.errs.add(fmt.Errorf("%s:%d: %w", p.name, line, err))
}

// flush turns the entry read so far into a rule.
func (p *tableParser) flush() {
	e := p.cur
	p.cur = nil
	if e == nil || e.bad {
		return
	}
	r, line, err := buildRule(e)
	if err != nil {
		p.fail(line, err)
		return
	}
	r.Source = fmt.Sprintf("%s:%d", p.name, e.line)
	p.rules = append(p.rules, r)
}

// buildRule checks an entry as New will, so that mistakes are reported
// with the line they are on. It returns that line with the error.
func buildRule(e *entry) (Rule, int, error) {
	r := Rule{Recipient: e.key}
	if _, err := recipientKey(e.key); err != nil {
		return r, e.line, err
	}
	if len(e.items) == 0 {
		return r, e.line, fmt.Errorf("%s: no settings (write name=value after the key)", e.key)
	}
	seen := map[string]bool{}
	var notes []string
	for _, it := range e.items {
		name, err := r.setItem(it.text)
		if err != nil {
			return r, it.line, err
		}
		if seen[name] {
			notes = append(notes, fmt.Sprintf("%s is set twice for %s (line %d); the last value wins", name, e.key, it.line))
		}
		seen[name] = true
	}
	r.note = strings.Join(notes, "; ")
	if err := r.Validate(); err != nil {
		return r, e.line, err
	}
	return r, e.line, nil
}

// setItem applies one name=value item: a condition or a setting.
func (r *Rule) setItem(text string) (name string, err error) {
	if strings.HasPrefix(text, "#") {
		return "", fmt.Errorf("%q: a comment must be on a line of its own", text)
	}
	name, value, ok := strings.Cut(text, "=")
	if !ok {
		return "", fmt.Errorf("%q is not name=value", text)
	}
	if value, err = unquote(value); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	switch name {
	case "sender":
		if _, err := parseSenderCond(value); err != nil {
			return "", err
		}
		r.Sender = value
	case "client_network":
		if r.ClientNetwork, err = parseNetwork(value); err != nil {
			return "", err
		}
	default:
		if err = r.Settings.Set(name, value); err != nil && r.OutboundTLS != "" && isTLSAttr(name) {
			err = fmt.Errorf("%s: an outbound_tls attribute goes inside the quotes: outbound_tls=\"%s %s\"", text, r.OutboundTLS, text)
		}
	}
	return name, err
}

// isTLSAttr reports whether name is an attribute of a Postfix TLS policy, as
// in an unquoted outbound_tls=secure match=… .
func isTLSAttr(name string) bool {
	attrs, _ := tlsLevelAttrs("verify")
	return containsFold(attrs, name)
}

// parseNetwork takes a CIDR prefix or a single address.
func parseNetwork(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("client_network: %q is not a network (192.0.2.0/24, 2001:db8::/32) or an address", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// LoadTables reads table files in order; the rules keep that order. Every
// file is read, so that all problems are reported at once, but any problem
// fails the whole load.
func LoadTables(paths []string) ([]Rule, error) {
	var rules []Rule
	var errs []error
	for _, path := range paths {
		rs, err := loadTable(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules = append(rules, rs...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rules, nil
}

func loadTable(path string) ([]Rule, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy table: %w", err)
	}
	defer f.Close()
	return ParseTable(path, f)
}
