package greylist

import (
	"context"
	"fmt"
	"net/netip"
	"time"
)

// dynamicList is the store's whitelist in the form the checks need.
type dynamicList struct {
	networks []expiringPrefix
	domains  []expiringDomain
}

type expiringPrefix struct {
	p   netip.Prefix
	exp time.Time
}

type expiringDomain struct {
	d   string
	exp time.Time
}

func newDynamicList(ws []WhitelistEntry) dynamicList {
	var l dynamicList
	for _, w := range ws {
		switch w.Kind {
		case KindNetwork:
			if p, err := parseNetwork(w.Value); err == nil {
				l.networks = append(l.networks, expiringPrefix{p, w.Expires})
			}
		case KindDomain:
			l.domains = append(l.domains, expiringDomain{normalizeDomain(w.Value), w.Expires})
		}
	}
	return l
}

// match says whether the client or the sender domain has an entry that
// has not expired at now (entries expire between refreshes too).
func (l dynamicList) match(client netip.Addr, senderDomain string, now time.Time) bool {
	live := func(exp time.Time) bool { return exp.IsZero() || now.Before(exp) }
	for _, n := range l.networks {
		if client.IsValid() && n.p.Contains(client) && live(n.exp) {
			return true
		}
	}
	for _, d := range l.domains {
		if live(d.exp) && domainUnder(senderDomain, d.d) {
			return true
		}
	}
	return false
}

// Refresh loads the dynamic whitelist from the store now. While the
// breaker is open it does not try: the store is down, and the last list
// stays in use.
func (c *Checker) Refresh(ctx context.Context) error {
	if err := c.breaker.healthy(); err != nil {
		return fmt.Errorf("greylist whitelist refresh: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	ws, err := c.s.Whitelist(ctx)
	if err != nil {
		return fmt.Errorf("greylist whitelist refresh: %w", err)
	}
	l := newDynamicList(ws)
	c.mu.Lock()
	c.dynamic = l
	c.mu.Unlock()
	return nil
}

// Start loads the dynamic whitelist (within Timeout; a failure is logged,
// the checks go on without it) and returns, leaving a goroutine that
// refreshes it every Refresh until ctx ends.
func (c *Checker) Start(ctx context.Context) {
	c.refreshLogged(ctx)
	go c.refreshLoop(ctx)
}

func (c *Checker) refreshLoop(ctx context.Context) {
	t := time.NewTicker(c.o.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.refreshLogged(ctx)
		}
	}
}

func (c *Checker) refreshLogged(ctx context.Context) {
	if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
		c.log.Warn("greylist: whitelist refresh failed, keeping the last one", "err", err)
	}
}
