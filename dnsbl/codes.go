package dnsbl

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Answer ranges that RFC 5782 and the big lists give a meaning to.
var (
	// loopbackNet holds every real DNSBL answer (RFC 5782 section 2.1).
	loopbackNet = netip.MustParsePrefix("127.0.0.0/8")
	// blockedNet is what Spamhaus and others answer when they refuse to
	// answer (open resolver, over quota, bad key): never a listing.
	blockedNet = netip.MustParsePrefix("127.255.255.0/24")
)

// CodeSet is a zone's accepted return codes. The zero value accepts any
// answer in 127.0.0.0/8 outside 127.255.255.0/24.
type CodeSet struct {
	ranges []codeRange // nil: the default set
}

// codeRange is an inclusive range of IPv4 answers.
type codeRange struct{ lo, hi netip.Addr }

// ParseCodes parses accepted return codes: a single address "127.0.0.2", a
// range "127.0.0.2-127.0.0.11" or a prefix "127.0.0.0/24". Every element must
// lie in 127.0.0.0/8, and none may lie wholly in 127.255.255.0/24, since such
// a code could never match (those answers are "query blocked", never
// listings). An empty list gives the default set.
func ParseCodes(codes []string) (CodeSet, error) {
	var s CodeSet
	for _, c := range codes {
		r, err := parseCode(c)
		if err != nil {
			return CodeSet{}, fmt.Errorf("return code %q: %w", c, err)
		}
		s.ranges = append(s.ranges, r)
	}
	return s, nil
}

func parseCode(c string) (codeRange, error) {
	c = strings.TrimSpace(c)
	var r codeRange
	var err error
	switch {
	case strings.Contains(c, "/"):
		r, err = parsePrefix(c)
	case strings.Contains(c, "-"):
		r, err = parseRange(c)
	default:
		var a netip.Addr
		a, err = parseV4(c)
		r = codeRange{a, a}
	}
	if err != nil {
		return codeRange{}, err
	}
	return r, checkRange(r)
}

func parsePrefix(c string) (codeRange, error) {
	p, err := netip.ParsePrefix(c)
	if err != nil {
		return codeRange{}, err
	}
	if !p.Addr().Is4() {
		return codeRange{}, errors.New("not an IPv4 prefix")
	}
	// Host bits set usually mean a typo ("127.0.0.2/24" for "127.0.0.2").
	if p != p.Masked() {
		return codeRange{}, fmt.Errorf("host bits set (did you mean %s?)", p.Masked())
	}
	return codeRange{p.Addr(), lastAddr(p)}, nil
}

func parseRange(c string) (codeRange, error) {
	from, to, _ := strings.Cut(c, "-")
	lo, err := parseV4(strings.TrimSpace(from))
	if err != nil {
		return codeRange{}, err
	}
	hi, err := parseV4(strings.TrimSpace(to))
	if err != nil {
		return codeRange{}, err
	}
	if hi.Less(lo) {
		return codeRange{}, errors.New("range ends before it starts")
	}
	return codeRange{lo, hi}, nil
}

// parseV4 accepts dotted-quad IPv4 only: an A record answer is never IPv6.
func parseV4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%s is not an IPv4 address", s)
	}
	return a, nil
}

func checkRange(r codeRange) error {
	if !loopbackNet.Contains(r.lo) || !loopbackNet.Contains(r.hi) {
		return errors.New("DNSBL answers lie in 127.0.0.0/8")
	}
	if blockedNet.Contains(r.lo) {
		return errors.New("127.255.255.0/24 means \"query blocked\", never a listing")
	}
	return nil
}

// lastAddr is the highest address of the IPv4 prefix p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	hostBits := 32 - p.Bits()
	for i := 3; i >= 0 && hostBits > 0; i-- {
		n := min(hostBits, 8)
		a[i] |= byte(1<<n - 1)
		hostBits -= n
	}
	return netip.AddrFrom4(a)
}

// Contains reports whether answer is an accepted code. Callers rule out
// "query blocked" answers first (see classify).
func (s CodeSet) Contains(answer netip.Addr) bool {
	answer = answer.Unmap()
	if s.ranges == nil {
		return loopbackNet.Contains(answer) && !blockedNet.Contains(answer)
	}
	for _, r := range s.ranges {
		if !answer.Less(r.lo) && !r.hi.Less(answer) {
			return true
		}
	}
	return false
}

// String lists the codes in ParseCodes syntax, for explain and logs.
func (s CodeSet) String() string {
	if s.ranges == nil {
		return "127.0.0.0/8 except 127.255.255.0/24"
	}
	parts := make([]string, len(s.ranges))
	for i, r := range s.ranges {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

func (r codeRange) String() string {
	if r.lo == r.hi {
		return r.lo.String()
	}
	return r.lo.String() + "-" + r.hi.String()
}
