package mtasts

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
)

// Client looks up MTA-STS policies and caches them. It is safe for concurrent use.
type Client struct {
	opts   Options
	log    *slog.Logger
	cache  *cache
	flight flight
	dialer net.Dialer
	http   *http.Client
	slots  chan struct{} // one token per fetch running, at most Options.MaxFetches

	busy    atomic.Int64 // fetches not started because MaxFetches were running
	trimmed atomic.Int64 // policies whose mx patterns were cut to MaxPatterns
}

// Stats are the client's counters since it was made, for metrics: how often each limit
// against hostile domains bit.
type Stats struct {
	// FetchesRefused counts lookups that needed a fetch while Options.MaxFetches were
	// running: they answered as if the domain had no policy yet (or kept the cached one).
	FetchesRefused int64
	// Evicted counts cached domains pushed out by Options.CacheSize.
	Evicted int64
	// PatternsTrimmed counts fetched policies with more than MaxPatterns mx patterns.
	PatternsTrimmed int64
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{FetchesRefused: c.busy.Load(), Evicted: c.cache.evicted.Load(), PatternsTrimmed: c.trimmed.Load()}
}

// New returns a Client. It panics if o.Resolver is nil: the policy host must never be
// resolved behind the configured resolver's back.
func New(o Options) *Client {
	if o.Resolver == nil {
		panic("mtasts: Options.Resolver is nil")
	}
	o = o.withDefaults()
	c := &Client{opts: o, log: o.Log, cache: newCache(o.CacheSize), slots: make(chan struct{}, o.MaxFetches)}
	c.http = c.newHTTPClient()
	return c
}

// Lookup returns the MTA-STS policy in force for domain (see the package doc):
//
//   - a cached policy that has not expired, when the TXT id is unchanged, or when the
//     TXT lookup or the fetch fails, or the record is gone (RFC 8461 3.3, 8.3, 10.2);
//   - a freshly fetched policy when there is none cached or the TXT id changed (3.1);
//   - (nil, nil) when no policy is in force: no cached policy and no record, an invalid
//     record, or a failed fetch (3.3: deliver as though the domain had no MTA-STS),
//     or domain is not a domain name (a "[host]:port" next hop); also when a fetch is
//     needed while Options.MaxFetches run: the answer is then what Postfix does
//     alone, at once, and the fetch is not queued (a later lookup tries again);
//   - (nil, err) when the TXT lookup failed temporarily and nothing is cached, or ctx
//     ended while waiting for a fetch (which goes on and fills the cache).
//
// The caller may modify the policy returned.
func (c *Client) Lookup(ctx context.Context, domain string) (*Policy, error) {
	d, ok := normalizeDomain(domain)
	if !ok {
		return nil, nil
	}
	cached := c.cache.policy(d, c.opts.Now())
	id, err := c.discover(ctx, d)
	switch {
	case err != nil && cached != nil:
		c.log.Debug("mtasts: no live policy record, cached policy stays in force", "domain", d, "reason", err)
		return cached, nil
	case err != nil && isTemporary(err):
		return nil, err
	case err != nil:
		c.log.Debug("mtasts: no policy", "domain", d, "reason", err)
		return nil, nil
	case cached != nil && cached.ID == id:
		return cached, nil
	}
	return c.update(ctx, d, id, cached)
}

// update fetches the policy for a new id; on failure the cached one (if any) stays.
func (c *Client) update(ctx context.Context, domain, id string, cached *Policy) (*Policy, error) {
	p, err := c.fetchID(ctx, domain, id, false)
	switch {
	case err == nil:
		return p, nil
	case cached != nil:
		c.logFetchFailure(err, "mtasts: policy fetch failed, cached policy stays in force", "domain", domain,
			"id", id, "cached_id", cached.ID, "expires", cached.Expires())
		return cached, nil
	case ctx.Err() != nil:
		return nil, err // the fetch goes on and fills the cache
	}
	c.logFetchFailure(err, "mtasts: policy fetch failed, no policy in force", "domain", domain, "id", id)
	return nil, nil
}

// logFetchFailure logs a failed fetch as a warning, a fetch held back (backoff, too
// many running) as debug: under a flood of hostile domains the metric counts those.
func (c *Client) logFetchFailure(err error, msg string, args ...any) {
	level := slog.LevelWarn
	if errors.Is(err, errBackoff) || errors.Is(err, errBusy) {
		level = slog.LevelDebug
	}
	c.log.Log(context.Background(), level, msg, append(args, "error", err)...)
}

// fetchID fetches the policy of domain for TXT id, shared with concurrent lookups, and
// caches it. The fetch runs to its end (Options.Timeout) even if ctx ends first. A
// policy id that failed to fetch within FetchBackoff is not tried again.
//
// At most Options.MaxFetches fetches run at once, whatever the number of domains
// asked for: each costs a goroutine, a socket and up to Options.Timeout. Joining a
// fetch already running for the domain costs no slot. With none free, a lookup (wait
// false) gets errBusy at once, never a stall: its caller answers without the policy
// and a later lookup fetches it. Refresh (wait true) waits for a slot instead, so that
// cached policies are refreshed before they expire even while lookups keep every
// slot busy.
func (c *Client) fetchID(ctx context.Context, domain, id string, wait bool) (*Policy, error) {
	if c.cache.backingOff(domain, id, c.opts.Now(), c.opts.FetchBackoff) {
		return nil, errBackoff
	}
	if wait {
		select {
		case c.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	bg := context.WithoutCancel(ctx)
	call, started := c.flight.do(domain, func() bool { return wait || c.tryAcquire() }, func() (*Policy, error) {
		defer c.release()
		return c.fetchAndStore(bg, domain, id)
	})
	if wait && !started {
		c.release() // joined a fetch that holds its own slot
	}
	if call == nil {
		c.busy.Add(1)
		return nil, errBusy
	}
	return call.wait(ctx)
}

func (c *Client) tryAcquire() bool {
	select {
	case c.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (c *Client) release() { <-c.slots }

// fetchAndStore fetches, trims the mx patterns to MaxPatterns, renders the Postfix
// answer once for every later lookup, and caches the policy.
func (c *Client) fetchAndStore(ctx context.Context, domain, id string) (*Policy, error) {
	p, err := c.fetch(ctx, domain)
	now := c.opts.Now()
	if err != nil {
		c.cache.failed(domain, id, now)
		return nil, err
	}
	if n := p.limitPatterns(); n > 0 {
		c.trimmed.Add(1)
		c.log.Warn("mtasts: policy has too many mx patterns; the first ones are kept, MX hosts matched only by the others will be deferred",
			"domain", domain, "id", id, "kept", len(p.MX), "dropped", n)
	}
	p.ID, p.Fetched = id, now
	p.render()
	c.cache.store(domain, p)
	c.log.Info("mtasts: policy fetched", "domain", domain, "id", id, "mode", p.Mode, "mx", p.MX, "max_age", p.MaxAge)
	return p, nil
}
