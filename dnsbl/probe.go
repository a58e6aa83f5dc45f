package dnsbl

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
)

// RFC 5782 section 5 test points, as query-name prefixes: every list must
// list 127.0.0.2 and must not list 127.0.0.1.
const (
	listedPoint   = "2.0.0.127."
	unlistedPoint = "1.0.0.127."
)

type verdictKind int8

const (
	pass verdictKind = iota
	fail
	unsure // DNS trouble: proves nothing either way
)

// verdict is the outcome of one test point.
type verdict struct {
	kind   verdictKind
	reason string
}

// CheckHealth tests every zone's RFC 5782 test points and waits for the
// answers (the Resolver must honour ctx). A failed test marks the zone
// unhealthy, two passed tests mark it healthy, and DNS errors leave its
// state as it was: transient trouble is no proof of a broken list.
func (c *Checker) CheckHealth(ctx context.Context) {
	c.checkZones(ctx, c.zones)
}

func (c *Checker) checkZones(ctx context.Context, zones []*zone) {
	var wg sync.WaitGroup
	for _, z := range zones {
		wg.Go(func() { c.checkZone(ctx, z) })
	}
	wg.Wait()
}

func (c *Checker) checkZone(ctx context.Context, z *zone) {
	var listed verdict
	done := make(chan struct{})
	go func() {
		listed = c.probe(ctx, z, listedPoint, true)
		close(done)
	}()
	unlisted := c.probe(ctx, z, unlistedPoint, false)
	<-done
	h, why := judge(listed, unlisted)
	if h == nil {
		c.log.Debug("dnsbl health check inconclusive", "zone", z.name, "reason", why)
		return
	}
	c.setHealth(z, h)
}

// judge combines the two test points; a nil health means "inconclusive,
// keep the previous state". A failure outweighs DNS trouble on the other
// point, because it is proof.
func judge(listed, unlisted verdict) (*health, string) {
	for _, v := range []verdict{listed, unlisted} {
		if v.kind == fail {
			return unhealthy(v.reason), v.reason
		}
	}
	for _, v := range []verdict{listed, unlisted} {
		if v.kind == unsure {
			return nil, v.reason
		}
	}
	return healthy(), ""
}

// probe queries one test point; wantListed says whether it must be listed.
func (c *Checker) probe(ctx context.Context, z *zone, point string, wantListed bool) verdict {
	name := point + z.name
	addrs, err := c.resolver.LookupIP(ctx, "ip4", name)
	var st Status
	switch {
	case err == nil:
		st = classify(addrs, z.codes)
	case isNotFound(err):
		st = NotListed
	default:
		return verdict{unsure, fmt.Sprintf("test point %s: %v", name, err)}
	}
	return judgePoint(name, st, addrs, wantListed)
}

func judgePoint(name string, st Status, addrs []netip.Addr, wantListed bool) verdict {
	switch {
	case st == Blocked:
		return verdict{fail, fmt.Sprintf("test point %s answered %v (query blocked)", name, addrs)}
	// 127.0.0.2 may answer a code the admin filters out (a zone used only
	// for its PBL codes, say): any real listing proves the list works.
	case wantListed && (st == Listed || st == Filtered), !wantListed && st == NotListed:
		return verdict{kind: pass}
	case wantListed && st == NotListed:
		return verdict{fail, fmt.Sprintf("test point %s is not listed (RFC 5782 requires it)", name)}
	default:
		return verdict{fail, fmt.Sprintf("test point %s answered %v but must not be listed (the list answers every query?)", name, addrs)}
	}
}
