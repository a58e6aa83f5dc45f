package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"spamgate/dnsx"
)

// errInvalidIP is every zone's Err when Check gets no usable address.
var errInvalidIP = errors.New("dnsbl: invalid client address")

// answer carries one zone's result back to Check.
type answer struct {
	i int
	r ZoneResult
}

// Check looks ip up in every healthy zone in parallel and waits until all
// have answered or ctx ends; a zone still pending then is an Error, so one
// slow list never holds the others beyond the deadline. DNS trouble never
// counts as a listing.
func (c *Checker) Check(ctx context.Context, ip netip.Addr) Result {
	res := Result{Zones: make([]ZoneResult, len(c.zones))}
	names, prefixLen := c.queryNames(ip)
	if names == "" {
		for i, z := range c.zones {
			res.Zones[i] = ZoneResult{Zone: z.name, Weight: z.weight, Status: Error, Err: errInvalidIP}
		}
		return res
	}
	// Buffered for every zone, so that a lookup finishing after the
	// deadline can still deliver and exit instead of leaking.
	answers := make(chan answer, len(c.zones))
	pending := c.start(ctx, names, prefixLen, res.Zones, answers)
	collect(ctx, res.Zones, answers, pending)
	res.Score = score(res.Zones)
	return res
}

// queryNames returns every zone's query name for ip, concatenated in zone
// order, and the length of the reversed-address prefix each one starts
// with ("" for an invalid ip). One allocation instead of one per zone,
// since this runs for every connection.
func (c *Checker) queryNames(ip netip.Addr) (all string, prefixLen int) {
	var buf [64]byte
	prefix := appendReversed(buf[:0], ip.Unmap())
	if len(prefix) == 0 {
		return "", 0
	}
	var b strings.Builder
	b.Grow(len(prefix)*len(c.zones) + c.namesLen)
	for _, z := range c.zones {
		b.Write(prefix)
		b.WriteString(z.name)
	}
	return b.String(), len(prefix)
}

// start launches a lookup for every healthy zone and fills in the rest;
// it returns how many lookups are pending. It cuts each zone's query name
// from all (see queryNames).
func (c *Checker) start(ctx context.Context, all string, prefixLen int, out []ZoneResult, answers chan<- answer) int {
	pending := 0
	for i, z := range c.zones {
		n := prefixLen + len(z.name)
		name := all[:n]
		all = all[n:]
		out[i] = ZoneResult{Zone: z.name, Weight: z.weight}
		if skip := z.health.skipReason(); skip != nil {
			out[i].Status, out[i].Err = Skipped, skip
			continue
		}
		pending++
		if dnsx.IsCacheOnly(ctx) { // answered from the cache at once: no goroutine
			answers <- answer{i, c.lookup(ctx, z, name)}
			continue
		}
		go func() { answers <- answer{i, c.lookup(ctx, z, name)} }()
	}
	return pending
}

// collect waits for pending answers; at the deadline it takes what has
// arrived and marks the rest as Error.
func collect(ctx context.Context, out []ZoneResult, answers <-chan answer, pending int) {
	for ; pending > 0; pending-- {
		select {
		case a := <-answers:
			out[a.i] = a.r
		case <-ctx.Done():
			drain(out, answers)
			timeOut(ctx, out)
			return
		}
	}
}

// drain takes answers that are already there: select picks at random when
// the deadline and an answer are both ready.
func drain(out []ZoneResult, answers <-chan answer) {
	for {
		select {
		case a := <-answers:
			out[a.i] = a.r
		default:
			return
		}
	}
}

func timeOut(ctx context.Context, out []ZoneResult) {
	for i := range out {
		if out[i].Status == 0 {
			out[i].Status = Error
			out[i].Err = fmt.Errorf("dnsbl %s: no answer in time: %w", out[i].Zone, context.Cause(ctx))
		}
	}
}

func score(zones []ZoneResult) float64 {
	var s float64
	for _, z := range zones {
		if z.Status == Listed {
			s += z.Weight
		}
	}
	return s
}

// lookup queries one zone and classifies the answer. A "query blocked"
// answer marks the zone unhealthy at once: the next client must not be
// judged by a list that has stopped answering us.
func (c *Checker) lookup(ctx context.Context, z *zone, name string) ZoneResult {
	addrs, err := c.resolver.LookupIP(ctx, "ip4", name)
	r := ZoneResult{Zone: z.name, Weight: z.weight}
	switch {
	case err == nil:
		r.Status, r.Answers = classify(addrs, z.codes), addrs
	case isNotFound(err):
		r.Status = NotListed
	default:
		r.Status, r.Err = Error, fmt.Errorf("dnsbl %s: %w", z.name, err)
	}
	if r.Status == Blocked {
		c.setHealth(z, unhealthy(fmt.Sprintf("%s answered %v (query blocked)", name, addrs)))
	}
	return r
}

// classify judges a successful answer. One blocked answer spoils the
// whole set: it is not a list we can trust for this query.
func classify(addrs []netip.Addr, codes CodeSet) Status {
	st := NotListed // an empty answer is NODATA
	for _, a := range addrs {
		a = a.Unmap()
		switch {
		case isBlocked(a):
			return Blocked
		case codes.Contains(a):
			st = Listed
		case st != Listed:
			st = Filtered
		}
	}
	return st
}

// isBlocked: 127.255.255.0/24 is the lists' "query blocked" range, and an
// answer outside 127.0.0.0/8 is not a DNSBL answer at all (for example an
// ISP resolver rewriting NXDOMAIN to an advertising page).
func isBlocked(a netip.Addr) bool {
	return !loopbackNet.Contains(a) || blockedNet.Contains(a)
}

func isNotFound(err error) bool {
	e, ok := errors.AsType[*net.DNSError](err)
	return ok && e.IsNotFound
}
