package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// validate checks values that decode fine but make no sense, and fills the
// parsed forms the rest of the program uses.
func (c *Config) validate() Errors {
	var errs Errors
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if _, _, err := ParseListen(c.Milter.Listen); err != nil {
		bad("milter.listen", "%v", err)
	}
	if _, err := c.Milter.SocketPerm(); err != nil {
		bad("milter.socket_mode", "%v", err)
	}
	if !validAuthservID(c.Milter.AuthservID) {
		bad("milter.authserv_id", "%q is not a valid authserv-id (a host name without spaces, ';' or quotes)", c.Milter.AuthservID)
	}
	if _, err := ParsePrefixes(c.Milter.InternalNetworks); err != nil {
		bad("milter.internal_networks", "%v", err)
	}
	positive(bad, "milter.check_timeout", c.Milter.CheckTimeout, 5*time.Minute)
	positive(bad, "milter.drain_timeout", c.Milter.DrainTimeout, time.Hour)
	positive(bad, "milter.idle_timeout", c.Milter.IdleTimeout, 24*time.Hour)
	positive(bad, "milter.max_session_time", c.Milter.MaxSessionTime, 7*24*time.Hour)
	if n := c.Milter.MaxHeaderDeletions; n < 1 || n > 1000 {
		bad("milter.max_header_deletions", "%d is not between 1 and 1000", n)
	}
	if c.Milter.MaxHeaderBytes < 64<<10 {
		bad("milter.max_header_bytes", "%d is under 65536: ordinary messages would go unverified", c.Milter.MaxHeaderBytes)
	}
	if c.Milter.MaxSessions < 1 {
		bad("milter.max_sessions", "%d must be at least 1", c.Milter.MaxSessions)
	}
	positive(bad, "milter.negotiate_timeout", c.Milter.NegotiateTimeout, time.Minute)
	if n := c.Milter.MaxUnnegotiated; n < 1 || n > 65536 {
		bad("milter.max_unnegotiated", "%d is not between 1 and 65536", n)
	}
	if n := c.Milter.MaxSessionsPerPeer; n < 0 || n > c.Milter.MaxSessions {
		bad("milter.max_sessions_per_peer", "%d is not between 0 (no cap) and max_sessions (%d)", n, c.Milter.MaxSessions)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "%q is not text or json", c.Log.Format)
	}
	for _, ns := range c.DNS.Nameservers {
		if _, err := netip.ParseAddrPort(ns); err != nil {
			bad("dns.nameservers", "%q is not IP:PORT (e.g. \"127.0.0.1:53\", \"[::1]:53\")", ns)
		}
	}
	positive(bad, "dns.timeout", c.DNS.Timeout, time.Minute)
	c.validateDNSLimits(bad)
	c.validateDNSBL(bad)
	c.validatePolicy(bad)
	c.validateAuth(bad)
	c.validateARC(bad)
	c.validateSpam(bad)
	c.validateAdmin(bad)
	return errs
}

// validateDNSLimits checks the [dns] bounds on memory and queries in flight
// (docs/HOSTILE.md).
func (c *Config) validateDNSLimits(bad func(key, format string, args ...any)) {
	d := c.DNS
	if d.CacheBytes < 1<<20 || d.CacheBytes > 64<<30 {
		bad("dns.cache_bytes", "%d must be between 1048576 (1 MiB) and 68719476736 (64 GiB)", d.CacheBytes)
	}
	// At most 1/16 of the budget: one answer never evicts more than that.
	if d.CacheMaxAnswerBytes < 1024 || int64(d.CacheMaxAnswerBytes) > d.CacheBytes/16 {
		bad("dns.cache_max_answer_bytes", "%d must be between 1024 and cache_bytes/16 (%d)", d.CacheMaxAnswerBytes, d.CacheBytes/16)
	}
	if d.MaxInflight < 1 || d.MaxInflight > 65536 {
		bad("dns.max_inflight", "%d must be between 1 and 65536", d.MaxInflight)
	}
	if d.MaxInflightSession < 1 || d.MaxInflightSession > d.MaxInflight {
		bad("dns.max_inflight_session", "%d must be between 1 and max_inflight (%d)", d.MaxInflightSession, d.MaxInflight)
	}
}

func (c *Config) validateDNSBL(bad func(key, format string, args ...any)) {
	if c.DNSBL.Enabled && c.DNSBL.Threshold <= 0 {
		bad("dnsbl.threshold", "must be above 0")
	}
	positive(bad, "dnsbl.health_interval", c.DNSBL.HealthInterval, 24*time.Hour)
	seen := map[string]bool{}
	for i, z := range c.DNSBL.Zones {
		key := fmt.Sprintf("dnsbl.zone#%d", i)
		name := strings.ToLower(strings.TrimSuffix(z.Name, "."))
		if name == "" || strings.ContainsAny(name, " \t;") {
			bad(key+".name", "%q is not a DNS zone name", z.Name)
		}
		if seen[name] {
			bad(key+".name", "zone %q is listed twice", z.Name)
		}
		seen[name] = true
		if z.Weight < 0 {
			bad(key+".weight", "zone %q: weight must not be negative", z.Name)
		}
	}
}

func positive(bad func(key, format string, args ...any), key string, d Duration, max time.Duration) {
	if d.Duration <= 0 || d.Duration > max {
		bad(key, "%v must be above 0 and at most %v", d.Duration, max)
	}
}

// ParseListen splits a Postfix-style listen address into a net.Listen
// network and address: "inet:127.0.0.1:8891" → ("tcp", "127.0.0.1:8891"),
// "unix:/run/spamgate/milter.sock" → ("unix", "/run/spamgate/milter.sock").
func ParseListen(s string) (network, address string, err error) {
	kind, rest, ok := strings.Cut(s, ":")
	switch {
	case !ok:
	case kind == "inet":
		host, port, err := net.SplitHostPort(rest)
		if err != nil || port == "" {
			return "", "", fmt.Errorf("%q: want inet:HOST:PORT", s)
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return "", "", fmt.Errorf("%q: bad port %q", s, port)
		}
		return "tcp", net.JoinHostPort(host, port), nil
	case kind == "unix":
		if rest == "" {
			return "", "", fmt.Errorf("%q: want unix:PATH", s)
		}
		return "unix", rest, nil
	}
	return "", "", fmt.Errorf("%q: want inet:HOST:PORT or unix:PATH", s)
}

// SocketPerm returns the unix socket mode.
func (m Milter) SocketPerm() (uint32, error) {
	v, err := strconv.ParseUint(m.SocketMode, 8, 32)
	if err != nil || v > 0o777 {
		return 0, fmt.Errorf("%q is not an octal file mode like \"0660\"", m.SocketMode)
	}
	return uint32(v), nil
}

// ParsePrefixes parses networks written as CIDR prefixes or single addresses.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a network (CIDR) nor an address", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// validAuthservID accepts what RFC 8601 allows as a bare token value and what
// admins use in practice: a host name.
func validAuthservID(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`;"()<>@,:\/[]?={}`, r) {
			return false
		}
	}
	return true
}
