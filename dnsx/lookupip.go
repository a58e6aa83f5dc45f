package dnsx

import (
	"context"
	"net"
	"net/netip"
	"slices"

	"github.com/miekg/dns"
)

// LookupIP returns the addresses of host: network "ip4" asks for A
// records, "ip6" for AAAA, "ip" for both at once (A first). With "ip" the
// lookup succeeds if either family has addresses, and is not-found only if
// both are; otherwise a failure of either is the error. An IP literal is
// returned as it is, as net.Resolver does.
func (r *Resolver) LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return literalIP(network, host, ip)
	}
	cn, ok := canonicalName(host)
	if !ok {
		return nil, invalidNameError(host)
	}
	var a *answer
	switch network {
	case "ip4":
		a = r.resolve(ctx, key{cn, dns.TypeA})
	case "ip6":
		a = r.resolve(ctx, key{cn, dns.TypeAAAA})
	case "ip":
		a = mergeIP(r.resolveBoth(ctx, cn))
	default:
		return nil, unknownNetwork(network, host)
	}
	if err := r.errorOf(a, host); err != nil {
		return nil, err
	}
	return slices.Clone(a.addrs), nil
}

// resolveBoth answers the A and AAAA questions for name, concurrently when
// neither is cached: the cache-hit path starts no goroutine.
func (r *Resolver) resolveBoth(ctx context.Context, name string) (v4, v6 *answer) {
	k4, k6 := key{name, dns.TypeA}, key{name, dns.TypeAAAA}
	v4, ok4 := r.cached(k4)
	v6, ok6 := r.cached(k6)
	if (!ok4 || !ok6) && missedCache(ctx) {
		return notCached, notCached
	}
	switch {
	case !ok4 && !ok6:
		done := make(chan struct{})
		go func() {
			defer close(done)
			v4 = r.resolveMiss(ctx, k4)
		}()
		v6 = r.resolveMiss(ctx, k6)
		<-done
	case !ok4:
		v4 = r.resolveMiss(ctx, k4)
	case !ok6:
		v6 = r.resolveMiss(ctx, k6)
	}
	return v4, v6
}

// mergeIP combines the A and AAAA answers: addresses if either has some;
// else a failure if either failed (not-found cannot be concluded); else
// not-found, NXDOMAIN only if both say so.
func mergeIP(v4, v6 *answer) *answer {
	switch {
	case v4.outcome == found && v6.outcome == found:
		return &answer{outcome: found, server: v4.server, addrs: slices.Concat(v4.addrs, v6.addrs)}
	case v4.outcome == found:
		return v4
	case v6.outcome == found:
		return v6
	case v4.outcome == failed:
		return v4
	case v6.outcome == failed:
		return v6
	case v4.outcome == nxdomain && v6.outcome == nxdomain:
		return v4
	case v4.outcome == nodata:
		return v4
	default:
		return v6
	}
}

// literalIP answers a host that is an IP address, if it suits network.
func literalIP(network, host string, ip netip.Addr) ([]netip.Addr, error) {
	ip4 := ip.Unmap().Is4()
	switch {
	case network != "ip" && network != "ip4" && network != "ip6":
		return nil, unknownNetwork(network, host)
	case network == "ip4" && !ip4, network == "ip6" && ip4:
		return nil, &net.DNSError{Err: "no suitable address", Name: host, IsNotFound: true}
	case ip4:
		return []netip.Addr{ip.Unmap()}, nil
	default:
		return []netip.Addr{ip}, nil
	}
}

func unknownNetwork(network, host string) error {
	return &net.DNSError{Err: "unknown network " + network, Name: host}
}
