package mtasts

import (
	"context"
	"sync"
	"time"
)

// refreshWorkers bounds the fetches one Refresh runs at the same time.
const refreshWorkers = 4

// Refresh re-fetches the cached policies that are due: fetched a day ago, or half their
// max_age ago if that is shorter (RFC 8461 3.3: "MTAs SHOULD proactively refresh
// cached policies before they expire"). A policy is fetched again even if its TXT id
// is unchanged, which restarts its max_age. A missing or failing TXT record or a failed
// fetch leaves the cached policy as it is (3.3, 8.3). Refresh returns when the work is
// done or ctx ends.
func (c *Client) Refresh(ctx context.Context) {
	domains := c.cache.due(c.opts.Now(), c.opts.FetchBackoff)
	sem := make(chan struct{}, refreshWorkers)
	var wg sync.WaitGroup
	for _, d := range domains {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			c.refresh(ctx, d)
		})
	}
	wg.Wait()
}

// refresh re-discovers and re-fetches one cached domain.
func (c *Client) refresh(ctx context.Context, domain string) {
	id, err := c.discover(ctx, domain)
	if err != nil {
		c.log.Info("mtasts: refresh: no live policy record, cached policy kept", "domain", domain, "reason", err)
		return
	}
	if _, err := c.fetchID(ctx, domain, id, true); err != nil {
		c.log.Warn("mtasts: refresh: policy fetch failed, cached policy kept", "domain", domain, "id", id, "error", err)
	}
}

// DefaultRunInterval is Run's interval when it is given none.
const DefaultRunInterval = time.Hour

// Run calls Refresh every interval (DefaultRunInterval if every <= 0) until ctx ends.
func (c *Client) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultRunInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.Refresh(ctx)
		}
	}
}
