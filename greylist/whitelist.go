package greylist

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// normalizeWhitelist checks w and puts its value in the form the stores
// keep: a masked CIDR prefix (a bare address is a /32 or /128), or a
// lower-case domain without the root dot.
func normalizeWhitelist(w WhitelistEntry) (WhitelistEntry, error) {
	v, err := normalizeWhitelistValue(w.Kind, w.Value)
	if err != nil {
		return w, err
	}
	w.Value = v
	return w, nil
}

func normalizeWhitelistValue(kind, value string) (string, error) {
	value = strings.TrimSpace(value)
	switch kind {
	case KindNetwork:
		p, err := parseNetwork(value)
		if err != nil {
			return "", fmt.Errorf("whitelist network %q: %w", value, err)
		}
		return p.String(), nil
	case KindDomain:
		d := normalizeDomain(value)
		if d == "" || strings.ContainsAny(d, " @/") {
			return "", fmt.Errorf("whitelist domain %q: not a domain", value)
		}
		return d, nil
	}
	return "", fmt.Errorf("whitelist kind %q: want %q or %q", kind, KindNetwork, KindDomain)
}

// parseNetwork takes a CIDR prefix or a bare address.
func parseNetwork(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// expiredAt says whether w has expired at now.
func (w WhitelistEntry) expiredAt(now time.Time) bool {
	return !w.Expires.IsZero() && !now.Before(w.Expires)
}

// unixOrZero is t in Unix seconds, 0 for the zero time (never expires).
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func timeOrZero(unix int64) time.Time {
	if unix == 0 {
		return time.Time{}
	}
	return time.Unix(unix, 0)
}

// domainMatches says whether d is one of domains or a subdomain of one;
// every domain is normalized.
func domainMatches(d string, domains []string) bool {
	for _, w := range domains {
		if domainUnder(d, w) {
			return true
		}
	}
	return false
}

// domainUnder says whether d is w or a subdomain of it.
func domainUnder(d, w string) bool {
	if w == "" {
		return false
	}
	return d == w || len(d) > len(w) && d[len(d)-len(w)-1] == '.' && strings.HasSuffix(d, w)
}

// senderDomain is the domain of a normalized sender, "" when it has none.
func senderDomain(sender string) string {
	_, d, _ := cutLast(sender, "@")
	return d
}
