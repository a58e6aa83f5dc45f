package mtasts

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
)

// Client looks up MTA-STS policies and caches them. It is safe for concurrent use.
type Client struct {
	opts   Options
	log    *slog.Logger
	cache  *cache
	flight flight
	dialer net.Dialer
	http   *http.Client
}

// New returns a Client. It panics if o.Resolver is nil: the policy host must never be
// resolved behind the configured resolver's back.
func New(o Options) *Client {
	if o.Resolver == nil {
		panic("mtasts: Options.Resolver is nil")
	}
	o = o.withDefaults()
	c := &Client{opts: o, log: o.Log, cache: newCache(o.CacheSize)}
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
//     or domain is not a domain name (a "[host]:port" next hop);
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
	p, err := c.fetchID(ctx, domain, id)
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

// logFetchFailure logs a failed fetch as a warning, a retry held back as debug.
func (c *Client) logFetchFailure(err error, msg string, args ...any) {
	level := slog.LevelWarn
	if errors.Is(err, errBackoff) {
		level = slog.LevelDebug
	}
	c.log.Log(context.Background(), level, msg, append(args, "error", err)...)
}

// fetchID fetches the policy of domain for TXT id, shared with concurrent lookups, and
// caches it. The fetch runs to its end (Options.Timeout) even if ctx ends first. A
// policy id that failed to fetch within FetchBackoff is not tried again.
func (c *Client) fetchID(ctx context.Context, domain, id string) (*Policy, error) {
	if c.cache.backingOff(domain, id, c.opts.Now(), c.opts.FetchBackoff) {
		return nil, errBackoff
	}
	bg := context.WithoutCancel(ctx)
	call := c.flight.do(domain, func() (*Policy, error) { return c.fetchAndStore(bg, domain, id) })
	return call.wait(ctx)
}

func (c *Client) fetchAndStore(ctx context.Context, domain, id string) (*Policy, error) {
	p, err := c.fetch(ctx, domain)
	now := c.opts.Now()
	if err != nil {
		c.cache.failed(domain, id, now)
		return nil, err
	}
	p.ID, p.Fetched = id, now
	c.cache.store(domain, p, now)
	c.log.Info("mtasts: policy fetched", "domain", domain, "id", id, "mode", p.Mode, "mx", p.MX, "max_age", p.MaxAge)
	return p, nil
}
