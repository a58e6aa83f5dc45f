package dmarc

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Policies (RFC 9989 4.7, "p"; the ABNF's dmarc-request).
const (
	PolicyNone       = "none"
	PolicyQuarantine = "quarantine"
	PolicyReject     = "reject"
)

// Errors of ParseRecord. Both are wrapped with details; test with errors.Is.
var (
	// ErrNotDMARC: the TXT record does not begin with "v=DMARC1", so it is
	// not a DMARC Policy Record at all and is discarded (RFC 9989 4.7 "v",
	// 4.10 step 2).
	ErrNotDMARC = errors.New("not a DMARC record")
	// ErrInvalidPolicy: the record is a DMARC record, but its "p" is absent
	// or invalid, or its "sp" or "np" is invalid, and no valid "rua" URI
	// rescues it; the Mail Receiver applies no DMARC processing (RFC 9989
	// 4.10.1).
	ErrInvalidPolicy = errors.New("DMARC record has no valid policy")
)

// Record is a parsed DMARC Policy Record (RFC 9989 4.7).
type Record struct {
	Policy            string // "p": none, quarantine or reject; "none" when rescued by rua (4.10.1)
	SubdomainPolicy   string // "sp", or "" when absent (then p applies)
	NonexistentPolicy string // "np", or "" when absent (then sp, then p applies)
	ADKIM, ASPF       byte   // 'r' (default) or 's'
	Test              bool   // t=y (4.7 "t")
	PSD               string // "y", "n" or "u" (default)
	RUA, RUF          []string
	FO                string // "fo", default "0"
	raw               string
}

// String returns the record's text as published.
func (r *Record) String() string { return r.raw }

// ParseRecord parses the text of one TXT record (its character-strings
// already concatenated, RFC 9989 4.5).
//
// Parsing follows RFC 9989 4.7 and 4.8: "v=DMARC1" must be the first tag
// (its value is case-sensitive; everything else, tag names and the values of
// p, sp, np, adkim, aspf, t, psd and fo, is case-insensitive as ABNF literals
// are). Unknown tags, and the tags RFC 9989 removed (pct, rf, ri, Appendix
// C.5.2), are ignored. A tag with a syntax error is ignored and its default
// used. A duplicated tag keeps its first value. A record whose p is absent or
// invalid, or whose sp or np is invalid, is read as "p=none" if its rua holds
// at least one valid URI, and is otherwise an ErrInvalidPolicy (4.10.1).
func ParseRecord(txt string) (*Record, error) {
	r, err := parse(txt)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// parse is ParseRecord, but it also returns the record (its psd tag counts in
// the DNS Tree Walk) when the error is ErrInvalidPolicy.
func parse(txt string) (*Record, error) {
	tags, ok := splitTags(txt)
	if !ok {
		return nil, fmt.Errorf("dmarc: %q: %w", abbrev(txt), ErrNotDMARC)
	}
	r := &Record{ADKIM: 'r', ASPF: 'r', PSD: "u", FO: "0", raw: txt}
	var pTag, spTag, npTag tagState
	for _, t := range tags {
		switch t.name {
		case "p":
			pTag = policyTag(t.value)
		case "sp":
			spTag = policyTag(t.value)
		case "np":
			npTag = policyTag(t.value)
		case "adkim":
			r.ADKIM = rors(t.value)
		case "aspf":
			r.ASPF = rors(t.value)
		case "t":
			r.Test = strings.EqualFold(t.value, "y")
		case "psd":
			r.PSD = psd(t.value)
		case "rua":
			r.RUA = uriList(t.value)
		case "ruf":
			r.RUF = uriList(t.value)
		case "fo":
			r.FO = fo(t.value)
		}
	}
	r.Policy, r.SubdomainPolicy, r.NonexistentPolicy = pTag.value, spTag.value, npTag.value
	if pTag.value == "" || spTag.invalid || npTag.invalid {
		// RFC 9989 4.10.1: act as if "p=none" was retrieved when rua
		// holds a valid URI; otherwise no DMARC processing.
		if len(r.RUA) == 0 {
			return r, fmt.Errorf("dmarc: %q: %w", abbrev(txt), ErrInvalidPolicy)
		}
		r.Policy, r.SubdomainPolicy, r.NonexistentPolicy = PolicyNone, "", ""
	}
	return r, nil
}

type tag struct{ name, value string }

// splitTags checks the dmarc-version and returns the other tags, first
// occurrence of each name only, lower-cased names, values with the
// surrounding WSP removed (RFC 9989 4.8: dmarc-sep, equals). Tags with a
// syntax error are dropped (4.8: "Syntax errors in the remainder of the
// record MUST be discarded").
func splitTags(txt string) ([]tag, bool) {
	parts := strings.Split(txt, ";")
	v, ok := splitTag(parts[0])
	if !ok || v.name != "v" || v.value != "DMARC1" {
		return nil, false
	}
	seen := map[string]bool{"v": true}
	var tags []tag
	for _, p := range parts[1:] {
		t, ok := splitTag(p)
		if !ok || seen[t.name] {
			continue
		}
		seen[t.name] = true
		tags = append(tags, t)
	}
	return tags, true
}

// splitTag parses one dmarc-tag: 1*ALPHA equals 1*dmarc-value.
func splitTag(s string) (tag, bool) {
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return tag{}, false
	}
	name, value = strings.ToLower(trimWSP(name)), trimWSP(value)
	if name == "" || value == "" || !isAlpha(name) || !isValue(value) {
		return tag{}, false
	}
	return tag{name, value}, true
}

func trimWSP(s string) string { return strings.Trim(s, " \t") }

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// isValue reports whether s is 1*dmarc-value: printable ASCII and space,
// semicolon excluded by the split.
func isValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// tagState is a policy tag: absent (value ""), valid, or invalid.
type tagState struct {
	value   string
	invalid bool
}

func policyTag(v string) tagState {
	switch p := strings.ToLower(v); p {
	case PolicyNone, PolicyQuarantine, PolicyReject:
		return tagState{value: p}
	}
	return tagState{invalid: true}
}

// rors parses dmarc-rors; anything else is the default, relaxed.
func rors(v string) byte {
	if strings.EqualFold(v, "s") {
		return 's'
	}
	return 'r'
}

// psd parses dmarc-psd; anything else is the default, "u".
func psd(v string) string {
	switch p := strings.ToLower(v); p {
	case "y", "n":
		return p
	}
	return "u"
}

// fo parses dmarc-fo: a colon-separated list of 0, 1, d and s, each at most
// once, 0 and 1 exclusive. Anything else is the default, "0".
func fo(v string) string {
	opts := strings.Split(strings.ToLower(v), ":")
	seen := map[string]bool{}
	for i, o := range opts {
		o = trimWSP(o)
		if seen[o] || (o != "0" && o != "1" && o != "d" && o != "s") {
			return "0"
		}
		seen[o], opts[i] = true, o
	}
	if seen["0"] && seen["1"] {
		return "0"
	}
	return strings.Join(opts, ":")
}

// MaxReportURIs is how many rua= (and ruf=) URIs a record keeps.
const MaxReportURIs = 4

// uriList parses dmarc-urilist, keeping the valid absolute URIs. The
// obsolete "!size" suffix is removed (RFC 9989 4.8, obs-dmarc-uri).
//
// Only the first MaxReportURIs valid URIs are kept, and the rest of the
// list is not parsed: a record can list thousands, and it is parsed for
// every message. RFC 9990 section 2.5 sends reports "to every remaining
// URI, up to the Receiver's limits on supported URIs"; RFC 9989 section
// 4.6 says a report SHOULD go to each listed URI (RFC 7489 section 6.2
// asked for at least two).
func uriList(v string) []string {
	var uris []string
	for rest, more := v, true; more && len(uris) < MaxReportURIs; {
		var u string
		u, rest, more = strings.Cut(rest, ",")
		u = trimWSP(u)
		if i := strings.LastIndexByte(u, '!'); i >= 0 && isReportSize(u[i+1:]) {
			u = u[:i]
		}
		if p, err := url.Parse(u); err == nil && p.Scheme != "" && (p.Opaque != "" || p.Host != "" || p.Path != "") {
			uris = append(uris, u)
		}
	}
	return uris
}

// isReportSize matches obs-dmarc-report-size without its "!".
func isReportSize(s string) bool {
	if n := len(s); n > 0 && strings.ContainsRune("kmgtKMGT", rune(s[n-1])) {
		s = s[:n-1]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func abbrev(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
