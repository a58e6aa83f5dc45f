// Package spfsuite loads the openspf RFC 7208 conformance suite
// (testdata/spf/rfc7208-tests.yml) into scenarios whose zone data are real
// github.com/miekg/dns resource records, ready to be served by an in-memory
// resolver or by a real DNS test server.
//
// The suite's YAML is not a zone file: its meaning is fixed by the suite's own
// driver (pyspf test/testspf.py). Load reproduces that driver's conventions:
//
//   - Owner names are lower-cased, as the driver does; record data keep their case.
//   - Every SPF (type 99) entry is also published as a TXT record, unless the
//     name has a TXT entry of its own. "TXT: NONE" publishes nothing and only
//     serves to stop that.
//   - A TXT or SPF value that is a YAML list is one record with several
//     character-strings (an empty list is a record with no strings at all).
//   - A bare "TIMEOUT" entry makes every query type that has no records listed
//     before it time out: it becomes Rule{Qtype: dns.TypeANY}. Entries after it
//     can never be reached in the driver, so they are dropped (this includes the
//     TXT copies of SPF entries, which the driver appends at the end). A
//     "TYPE: TIMEOUT" entry times out that one type: Rule{Qtype: TYPE}.
//   - A name that is not listed does not exist (NXDOMAIN).
//   - The suite writes bytes as YAML "\xNN" escapes (for example a UTF-8 byte
//     order mark as "\xEF\xBB\xBF"): a value whose characters are all below
//     U+0100 is taken as those bytes (Latin-1), so the records carry the bytes
//     the suite's authors meant.
//   - Names and TXT strings are in miekg/dns presentation form, so bytes that
//     need it are escaped (a space in a name is "\ ", a control byte in a TXT
//     string "\013"); packing such a record puts the raw bytes on the wire.
//     The "macro-mania-in-domain" test needs such a name.
//   - Some tests give an IPv4-mapped IPv6 client ("::FFFF:1.2.3.4"); Test.Addr
//     parses it as such (Postfix would hand a milter plain IPv4 instead).
//
// To serve a scenario from a DNS test server, add Records as they are and turn
// each Rule into a timeout (no answer, or SERVFAIL: RFC 7208 4.4 gives both the
// same result). A Rule with Qtype dns.TypeANY applies to every type the name
// has no records of.
package spfsuite

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"spamgate/spf"
)

// ActionTimeout is the only Rule action: queries time out.
const ActionTimeout = "timeout"

// ttl is the TTL of every generated record; the suite has none.
const ttl = 3600

// Scenario is one YAML document of the suite: tests that share zone data.
type Scenario struct {
	Description string
	Tests       []Test   // in file order
	Records     []dns.RR // the zone data, owner names lower-cased and fully qualified
	Rules       []Rule   // queries that must time out
}

// Test is one test case.
type Test struct {
	Name     string
	Helo     string
	Host     string // client IP as written, e.g. "1.2.3.4", "CAFE:BABE::1", "::FFFF:1.2.3.4"
	MailFrom string // "" = null sender: the HELO identity is checked
	// Results lists the acceptable results; the first is the preferred one.
	Results []spf.Result
	// Explanation is the expected exp= text; "DEFAULT" means the checker's default
	// explanation (no exp= text), "" means the test does not check it.
	Explanation string
	Spec        string // RFC 7208 section, e.g. "4.6.4/1"
	Description string
}

// Rule makes queries for a name time out.
type Rule struct {
	Name   string // fully qualified, lower-cased, presentation form
	Qtype  uint16 // dns.TypeANY = every type the name has no records of
	Action string // ActionTimeout
}

// Addr parses Host.
func (t Test) Addr() (netip.Addr, error) { return netip.ParseAddr(t.Host) }

// Accepts reports whether r is one of the acceptable results.
func (t Test) Accepts(r spf.Result) bool {
	for _, want := range t.Results {
		if r == want {
			return true
		}
	}
	return false
}

// Load reads and converts the suite at path.
func Load(path string) ([]Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Parse converts the suite's YAML documents.
func Parse(data []byte) ([]Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []Scenario
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		sc, err := scenario(&doc)
		if err != nil {
			return nil, fmt.Errorf("scenario %d: %w", len(out)+1, err)
		}
		out = append(out, sc)
	}
}

// scenario converts one YAML document.
func scenario(doc *yaml.Node) (Scenario, error) {
	var sc Scenario
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return sc, fmt.Errorf("line %d: a scenario must be a mapping", root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i].Value, root.Content[i+1]
		var err error
		switch key {
		case "description":
			sc.Description = val.Value
		case "tests":
			sc.Tests, err = tests(val)
		case "zonedata":
			sc.Records, sc.Rules, err = zone(val)
		}
		if err != nil {
			return sc, err
		}
	}
	return sc, nil
}

// rawTest is a test as written; scalars are decoded as their text, so that
// "spec: 4.6" stays "4.6".
type rawTest struct {
	Helo        string `yaml:"helo"`
	Host        string `yaml:"host"`
	MailFrom    string `yaml:"mailfrom"`
	Explanation string `yaml:"explanation"`
	Spec        string `yaml:"spec"`
	Description string `yaml:"description"`
}

// tests converts the "tests" mapping, keeping its order.
func tests(n *yaml.Node) ([]Test, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: tests must be a mapping", n.Line)
	}
	var out []Test
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, body := n.Content[i].Value, n.Content[i+1]
		var rt rawTest
		if err := body.Decode(&rt); err != nil {
			return nil, fmt.Errorf("test %s: %w", name, err)
		}
		results, err := resultList(body)
		if err != nil {
			return nil, fmt.Errorf("test %s: %w", name, err)
		}
		out = append(out, Test{
			Name: name, Helo: rt.Helo, Host: rt.Host, MailFrom: rt.MailFrom,
			Results: results, Explanation: rt.Explanation, Spec: rt.Spec,
			Description: rt.Description,
		})
	}
	return out, nil
}

// resultList reads "result", a single result or a list of them.
func resultList(body *yaml.Node) ([]spf.Result, error) {
	v := mapValue(body, "result")
	if v == nil {
		return nil, fmt.Errorf("line %d: no result", body.Line)
	}
	var words []string
	switch v.Kind {
	case yaml.ScalarNode:
		words = []string{v.Value}
	case yaml.SequenceNode:
		for _, c := range v.Content {
			words = append(words, c.Value)
		}
	default:
		return nil, fmt.Errorf("line %d: bad result", v.Line)
	}
	out := make([]spf.Result, 0, len(words))
	for _, w := range words {
		out = append(out, spf.Result(strings.ToLower(strings.TrimSpace(w))))
	}
	return out, nil
}

// mapValue returns the value of key in mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// zone converts "zonedata": name → list of entries.
func zone(n *yaml.Node) ([]dns.RR, []Rule, error) {
	if n.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("line %d: zonedata must be a mapping", n.Line)
	}
	var rrs []dns.RR
	var rules []Rule
	for i := 0; i+1 < len(n.Content); i += 2 {
		owner := presentName(strings.ToLower(latin1(n.Content[i].Value)))
		r, ru, err := zoneEntries(owner, n.Content[i+1])
		if err != nil {
			return nil, nil, fmt.Errorf("zonedata %q: %w", n.Content[i].Value, err)
		}
		rrs = append(rrs, r...)
		rules = append(rules, ru...)
	}
	return rrs, rules, nil
}

// zoneEntries converts the entries of one name, in the driver's order.
func zoneEntries(owner string, list *yaml.Node) ([]dns.RR, []Rule, error) {
	if list.Kind != yaml.SequenceNode {
		return nil, nil, fmt.Errorf("line %d: entries must be a list", list.Line)
	}
	var rrs, spfCopies []dns.RR
	var rules []Rule
	ownTXT := false
	for _, e := range list.Content {
		if e.Kind == yaml.ScalarNode && e.Value == "TIMEOUT" {
			// Nothing after a bare TIMEOUT is ever reached by the driver.
			return rrs, append(rules, Rule{owner, dns.TypeANY, ActionTimeout}), nil
		}
		typ, val, err := entry(e)
		if err != nil {
			return nil, nil, err
		}
		if typ == "TXT" {
			ownTXT = true
		}
		if val.Kind == yaml.ScalarNode && val.Value == "NONE" && (typ == "TXT" || typ == "SPF") {
			continue
		}
		if val.Kind == yaml.ScalarNode && val.Value == "TIMEOUT" {
			rules = append(rules, Rule{owner, dns.StringToType[typ], ActionTimeout})
			continue
		}
		rr, err := record(owner, typ, val)
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", e.Line, err)
		}
		rrs = append(rrs, rr)
		if typ == "SPF" {
			spfCopies = append(spfCopies, &dns.TXT{Hdr: header(owner, dns.TypeTXT), Txt: rr.(*dns.SPF).Txt})
		}
	}
	if !ownTXT {
		rrs = append(rrs, spfCopies...)
	}
	return rrs, rules, nil
}

// entry splits a one-key mapping "- TYPE: value".
func entry(e *yaml.Node) (string, *yaml.Node, error) {
	if e.Kind != yaml.MappingNode || len(e.Content) != 2 {
		return "", nil, fmt.Errorf("line %d: an entry must be TIMEOUT or TYPE: value", e.Line)
	}
	typ := strings.ToUpper(e.Content[0].Value)
	if _, ok := dns.StringToType[typ]; !ok {
		return "", nil, fmt.Errorf("line %d: unknown type %q", e.Line, typ)
	}
	return typ, e.Content[1], nil
}

// record builds one resource record.
func record(owner, typ string, v *yaml.Node) (dns.RR, error) {
	hdr := header(owner, dns.StringToType[typ])
	switch typ {
	case "TXT":
		return &dns.TXT{Hdr: hdr, Txt: txtStrings(v)}, nil
	case "SPF":
		return &dns.SPF{Hdr: hdr, Txt: txtStrings(v)}, nil
	case "A", "AAAA":
		ip, err := netip.ParseAddr(v.Value)
		if err != nil {
			return nil, err
		}
		if typ == "A" {
			if !ip.Is4() {
				return nil, fmt.Errorf("A %s: not IPv4", v.Value)
			}
			return &dns.A{Hdr: hdr, A: net.IP(ip.AsSlice())}, nil
		}
		a16 := ip.As16()
		return &dns.AAAA{Hdr: hdr, AAAA: net.IP(a16[:])}, nil
	case "MX":
		if v.Kind != yaml.SequenceNode || len(v.Content) != 2 {
			return nil, fmt.Errorf("MX must be [preference, host]")
		}
		pref, err := strconv.ParseUint(v.Content[0].Value, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("MX preference: %w", err)
		}
		return &dns.MX{Hdr: hdr, Preference: uint16(pref), Mx: presentName(latin1(v.Content[1].Value))}, nil
	case "PTR":
		return &dns.PTR{Hdr: hdr, Ptr: presentName(latin1(v.Value))}, nil
	case "CNAME":
		return &dns.CNAME{Hdr: hdr, Target: presentName(latin1(v.Value))}, nil
	}
	return nil, fmt.Errorf("unsupported type %s", typ)
}

func header(owner string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

// txtStrings converts a TXT/SPF value: a string, or a list of strings that make
// one record. Strings longer than 255 bytes are split, which changes nothing
// since SPF concatenates them (RFC 7208 3.3).
func txtStrings(v *yaml.Node) []string {
	var raw []string
	if v.Kind == yaml.SequenceNode {
		for _, c := range v.Content {
			raw = append(raw, latin1(c.Value))
		}
	} else {
		raw = []string{latin1(v.Value)}
	}
	out := []string{}
	for _, s := range raw {
		for len(s) > 255 {
			out = append(out, escapeTXT(s[:255]))
			s = s[255:]
		}
		out = append(out, escapeTXT(s))
	}
	return out
}

// latin1 turns a string whose characters are all below U+0100 into those bytes.
func latin1(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xFF {
			return s
		}
		b = append(b, byte(r))
	}
	return string(b)
}

// escapeTXT writes a raw character-string in miekg/dns presentation form.
func escapeTXT(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// presentName writes a raw domain name (labels separated by dots, no escapes)
// as a fully qualified miekg/dns presentation name. The empty name and "." are
// the root (a null MX is written [0, ""]).
func presentName(raw string) string {
	raw = strings.TrimSuffix(raw, ".")
	if raw == "" {
		return "."
	}
	var b strings.Builder
	for _, label := range strings.Split(raw, ".") {
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case strings.IndexByte(`.' @;()"\`, c) >= 0:
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < ' ' || c > '~':
				fmt.Fprintf(&b, "\\%03d", c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('.')
	}
	return b.String()
}
