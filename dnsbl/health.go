package dnsbl

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Why a zone is Skipped; ZoneResult.Err is one of these or wraps
// ErrUnhealthy with the failed test.
var (
	ErrHealthUnknown = errors.New("dnsbl zone health not known yet")
	ErrUnhealthy     = errors.New("dnsbl zone unhealthy")
)

type healthState int8

const (
	healthUnknown healthState = iota
	healthGood
	healthBad
)

func (s healthState) String() string {
	return [...]string{"unknown", "healthy", "unhealthy"}[s]
}

// health is an immutable snapshot; a zone's state changes by swapping the
// pointer, so that Check reads it without a lock and every transition is
// seen (and logged) by exactly one goroutine.
type health struct {
	state healthState
	why   error // the Skipped reason; nil when healthy
}

type healthBox struct{ p atomic.Pointer[health] }

func (b *healthBox) init() {
	b.p.Store(&health{state: healthUnknown, why: ErrHealthUnknown})
}

// skipReason is nil when the zone may be queried.
func (b *healthBox) skipReason() error {
	return b.p.Load().why
}

func healthy() *health { return &health{state: healthGood} }

func unhealthy(reason string) *health {
	return &health{state: healthBad, why: fmt.Errorf("%w: %s", ErrUnhealthy, reason)}
}

// setHealth records h and logs the change once, when the state changes.
func (c *Checker) setHealth(z *zone, h *health) {
	old := z.health.p.Swap(h)
	if old.state == h.state {
		return
	}
	if h.state == healthGood {
		c.log.Info("dnsbl zone healthy", "zone", z.name, "was", old.state.String())
		return
	}
	c.log.Warn("dnsbl zone unhealthy, not used until it recovers",
		"zone", z.name, "was", old.state.String(), "reason", h.why)
	select {
	case c.wake <- struct{}{}:
	default: // Monitor already has a wake-up pending
	}
}

// Healthy reports whether zone passed its last conclusive health check;
// known is false until one has been made, or for a zone not configured.
func (c *Checker) Healthy(zone string) (healthy, known bool) {
	z := c.find(zone)
	if z == nil {
		return false, false
	}
	s := z.health.p.Load().state
	return s == healthGood, s != healthUnknown
}
