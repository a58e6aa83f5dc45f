package spf

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
)

// include matches when check_host() of the target passes (5.2):
//
//	pass → match; fail, softfail, neutral → no match;
//	temperror → temperror; permerror and none → permerror.
func (c *checker) include(ctx context.Context, m Include, domain string) (bool, error) {
	target := c.expandName(ctx, m.Domain, domain)
	v := c.checkHost(ctx, target)
	switch v.result {
	case Pass:
		return true, nil
	case Fail, SoftFail, Neutral:
		return false, nil
	case TempError:
		return false, tempErr("include:%s: %s", target, v.reason)
	case None:
		return false, permErr("include:%s: %s (5.2)", target, v.reason)
	}
	return false, permErr("include:%s: %s", target, v.reason)
}

// a matches when an address of the target is in the client's network (5.3).
// Only the client's address family is looked up.
func (c *checker) a(ctx context.Context, m A, domain string) (bool, error) {
	name := c.expandName(ctx, m.Domain, domain)
	if !validName(name) {
		return false, nil // 4.3, 4.8: a name that cannot exist does not match
	}
	addrs, err := c.r.LookupIP(ctx, c.network(), name)
	if found, err := c.checkAnswer(err, len(addrs), c.qtype(), name); !found {
		return false, err
	}
	return c.inNetwork(addrs, m.CIDR4, m.CIDR6), nil
}

// mx matches when an address of one of the target's MX hosts is in the
// client's network (5.4). More than 10 MX records give permerror (4.6.4); a
// null MX (RFC 7505) has no host to look up. Hosts are looked up in parallel
// and examined in order of preference.
func (c *checker) mx(ctx context.Context, m MX, domain string) (bool, error) {
	name := c.expandName(ctx, m.Domain, domain)
	if !validName(name) {
		return false, nil
	}
	mxs, err := c.r.LookupMX(ctx, name)
	if found, err := c.checkAnswer(err, len(mxs), "MX", name); !found {
		return false, err
	}
	if len(mxs) > maxMXNames {
		return false, permErr("%s has %d MX records, more than %d (4.6.4)", name, len(mxs), maxMXNames)
	}
	mxs = slices.Clone(mxs)
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	var hosts []string
	for _, mx := range mxs {
		if h := strings.TrimSuffix(mx.Host, "."); h != "" {
			hosts = append(hosts, h)
		}
	}
	for i, ans := range c.lookupHosts(ctx, hosts) {
		switch classify(ans.err) {
		case lookupTemporary:
			return false, tempErr("looking up %s %s: %v", c.qtype(), hosts[i], ans.err)
		case lookupOK:
			if c.inNetwork(ans.addrs, m.CIDR4, m.CIDR6) {
				return true, nil
			}
		}
	}
	return false, nil
}

// ptr matches when a validated PTR name of the client is the target or ends
// in it (5.5). DNS errors make it not match. The PTR names are under the
// control of the client's network, not of the domain, so an empty answer is
// not counted as a void lookup.
func (c *checker) ptr(ctx context.Context, m PTR, domain string) (bool, error) {
	target := c.expandName(ctx, m.Domain, domain)
	if !validName(target) {
		return false, nil
	}
	names, err := c.r.LookupAddr(ctx, c.ip)
	if err != nil {
		return false, nil
	}
	var candidates []string
	for _, n := range firstN(names, maxPTRNames) {
		if n = strings.TrimSuffix(n, "."); isSubdomain(n, target) {
			candidates = append(candidates, n)
		}
	}
	return len(c.validate(ctx, candidates)) > 0, nil
}

// exists matches when the target has an A record, whatever the client's
// address family (5.7).
func (c *checker) exists(ctx context.Context, m Exists, domain string) (bool, error) {
	name := c.expandName(ctx, m.Domain, domain)
	if !validName(name) {
		return false, nil
	}
	addrs, err := c.r.LookupIP(ctx, "ip4", name)
	return c.checkAnswer(err, len(addrs), "A", name)
}

// checkAnswer classifies the primary lookup of a term: found, or not found
// (a void lookup, 4.6.4), or an error (temperror, 4.4).
func (c *checker) checkAnswer(err error, n int, qtype, name string) (bool, error) {
	switch classify(err) {
	case lookupTemporary:
		return false, tempErr("looking up %s %s: %v", qtype, name, err)
	case lookupNotFound:
		return false, c.void()
	}
	if n == 0 {
		return false, c.void()
	}
	return true, nil
}

// network is the LookupIP network of the client's address family.
func (c *checker) network() string {
	if c.ip.Is4() {
		return "ip4"
	}
	return "ip6"
}

// qtype names the address record type of the client's family.
func (c *checker) qtype() string {
	if c.ip.Is4() {
		return "A"
	}
	return "AAAA"
}

// inNetwork tells whether the client is in the network of one of addrs, with
// the prefix length of its family (5.3).
func (c *checker) inNetwork(addrs []netip.Addr, cidr4, cidr6 int) bool {
	for _, a := range addrs {
		a = a.Unmap()
		bits := cidr6
		if a.Is4() {
			bits = cidr4
		}
		if a.Is4() == c.ip.Is4() && netip.PrefixFrom(a, bits).Masked().Contains(c.ip) {
			return true
		}
	}
	return false
}

// ipAnswer is the answer to one address lookup.
type ipAnswer struct {
	addrs []netip.Addr
	err   error
}

// lookupHosts looks up the addresses of hosts in the client's family,
// concurrently; answers are in the order of hosts.
func (c *checker) lookupHosts(ctx context.Context, hosts []string) []ipAnswer {
	out := make([]ipAnswer, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() { out[i].addrs, out[i].err = c.r.LookupIP(ctx, c.network(), h) })
	}
	wg.Wait()
	return out
}

// validate returns the names that resolve to the client's address (5.5);
// names whose lookup fails are skipped.
func (c *checker) validate(ctx context.Context, names []string) []string {
	names = slices.DeleteFunc(names, func(n string) bool { return !validName(n) })
	var valid []string
	for i, ans := range c.lookupHosts(ctx, names) {
		if ans.err == nil && containsAddr(ans.addrs, c.ip) {
			valid = append(valid, names[i])
		}
	}
	return valid
}

// validatedName is the %{p} macro (7.3): a validated PTR name of the client,
// preferably <domain> itself, then a subdomain of it, then any; "unknown"
// when there is none. It is looked up once per evaluation.
func (c *checker) validatedName(ctx context.Context, domain string) string {
	if p, ok := c.ptrNames[domain]; ok {
		return p
	}
	if !c.ptrDone {
		c.ptrDone = true
		if names, err := c.r.LookupAddr(ctx, c.ip); err == nil {
			names = firstN(names, maxPTRNames)
			for i := range names {
				names[i] = strings.TrimSuffix(names[i], ".")
			}
			c.ptrValid = c.validate(ctx, names)
		}
	}
	p := pickName(c.ptrValid, domain)
	c.ptrNames[domain] = p
	return p
}

// pickName prefers domain, then a subdomain of it, then the first name.
func pickName(names []string, domain string) string {
	for _, n := range names {
		if asciiLower(n) == asciiLower(domain) {
			return n
		}
	}
	for _, n := range names {
		if isSubdomain(n, domain) {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return "unknown"
}

func containsAddr(addrs []netip.Addr, ip netip.Addr) bool {
	for _, a := range addrs {
		if a.Unmap() == ip {
			return true
		}
	}
	return false
}

// isSubdomain tells whether name is domain or ends in "."+domain,
// case-insensitively.
func isSubdomain(name, domain string) bool {
	name, domain = asciiLower(name), asciiLower(domain)
	return name == domain || strings.HasSuffix(name, "."+domain)
}

// firstN returns a copy of at most n elements of s (4.6.4: at most 10 PTR names).
func firstN(s []string, n int) []string {
	return append([]string(nil), s[:min(len(s), n)]...)
}
