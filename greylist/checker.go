package greylist

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
)

// Defaults of CheckerOptions.
const (
	DefaultRefresh = 30 * time.Second
	DefaultTimeout = 200 * time.Millisecond
)

// CheckerOptions configure a Checker.
type CheckerOptions struct {
	Params Params
	// Static whitelists from the configuration; domains match their
	// subdomains too.
	Networks         []netip.Prefix
	SenderDomains    []string
	RecipientDomains []string
	Breaker          BreakerOptions
	Refresh          time.Duration // period of the dynamic whitelist refresh
	Timeout          time.Duration // deadline of each store call
	// PassCache is how long the checker remembers a triplet the store let
	// pass, without asking the store again (0: it always asks). Meant for
	// a remote store: a repeat sender then costs no round trip.
	PassCache time.Duration
	Now       func() time.Time // for tests; default time.Now
}

// Defaults of the pass cache, when CheckerOptions.PassCache is set.
const (
	DefaultPassCache    = time.Minute
	passCacheMaxEntries = 20000
)

// Checker is what the engine calls at RCPT. It is safe for concurrent use.
type Checker struct {
	s       Store
	o       CheckerOptions
	log     *slog.Logger
	breaker *breaker

	mu      sync.RWMutex
	dynamic dynamicList // the store's whitelist, as of the last refresh

	passed *otter.Cache[memKey, Decision] // nil without CheckerOptions.PassCache
}

// NewChecker wraps s; call Start to load and refresh the dynamic
// whitelist.
func NewChecker(s Store, o CheckerOptions, log *slog.Logger) *Checker {
	o.Params = o.Params.WithDefaults()
	if o.Refresh <= 0 {
		o.Refresh = DefaultRefresh
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	o.Networks = maskAll(o.Networks)
	o.SenderDomains = normalizeDomains(o.SenderDomains)
	o.RecipientDomains = normalizeDomains(o.RecipientDomains)
	return &Checker{s: s, o: o, log: log, breaker: newBreaker(o.Breaker, o.Now), passed: newPassCache(o.PassCache, o.Now)}
}

// newPassCache makes the cache of recent passes, or nil for ttl 0.
//
// A pass is safe to remember: the store never takes one back before the
// pass TTL (days), and the auto-whitelist counts triplets when they first
// pass, not each repeat. What a remembered pass skips is only the store's
// refresh of the triplet's expiry, done again once the entry expires here.
// (Whitelisted triplets are decided before the cache and never enter it.)
//
// Entries are keyed by the triplet's 16-byte hash, as in the memory store,
// so that the cache's size does not depend on the lengths of the addresses
// a client chooses.
func newPassCache(ttl time.Duration, now func() time.Time) *otter.Cache[memKey, Decision] {
	if ttl <= 0 {
		return nil
	}
	return otter.Must(&otter.Options[memKey, Decision]{
		MaximumSize:      passCacheMaxEntries,
		ExpiryCalculator: otter.ExpiryWriting[memKey, Decision](ttl),
		Clock:            checkerClock{now},
		// Maintenance on the caller's goroutine, as in dnsx's cache: no
		// goroutine start (a thread wake-up) every few checks.
		Executor: func(fn func()) { fn() },
	})
}

// checkerClock is the checker's clock for otter, so that tests on a fake
// clock see entries expire. It has no ticks: expired entries go when
// looked up or evicted.
type checkerClock struct{ now func() time.Time }

func (c checkerClock) NowNano() int64                      { return c.now().UnixNano() }
func (c checkerClock) Tick(time.Duration) <-chan time.Time { return nil }

// Store is the checker's store, for admin commands.
func (c *Checker) Store() Store { return c.s }

// Healthy is nil, or why the store is considered down (the breaker is
// open).
func (c *Checker) Healthy() error { return c.breaker.healthy() }

// Check decides on r: exemptions, then the static whitelists, then the
// dynamic whitelist as last refreshed, then the store through the breaker
// and within Timeout. While the breaker is open it returns an error
// matching ErrUnavailable at once, without calling the store; the caller
// decides whether to fail open.
func (c *Checker) Check(ctx context.Context, r Request) (Decision, error) {
	k, d, decided := c.before(r)
	if decided {
		return d, nil
	}
	var pk memKey
	if c.passed != nil {
		_, pk = memKeys(k)
		if d, ok := c.passed.GetIfPresent(pk); ok {
			return d, nil
		}
	}
	ok, err := c.breaker.allow()
	if !ok {
		return Decision{}, fmt.Errorf("greylist check: %w", err)
	}
	callCtx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	d, err = c.s.Check(callCtx, k, c.o.Params)
	c.logBreaker(c.breaker.done(err, ctx.Err() != nil), err)
	if err != nil {
		return Decision{}, fmt.Errorf("greylist check: %w", err)
	}
	if d.Allowed && c.passed != nil {
		c.passed.Set(pk, d)
	}
	return d, nil
}

// logBreaker logs the breaker's transitions: once when it opens (the
// calls it then refuses are logged at debug level only), once when the
// store answers again.
func (c *Checker) logBreaker(ch breakerChange, err error) {
	switch ch {
	case breakerOpened:
		c.log.Warn("greylist store failing, breaker open: checks fail fast, one trial call per interval",
			slog.Int("failures", c.breaker.o.Failures), slog.Duration("interval", c.breaker.o.OpenFor),
			slog.String("error", err.Error()))
	case breakerClosed:
		c.log.Info("greylist store answers again, breaker closed")
	}
}

// BreakerOpenings is how often the store's breaker opened since the
// checker was made (a reload makes a new one).
func (c *Checker) BreakerOpenings() uint64 { return c.breaker.openings() }

// before applies what is decided without the store: exemptions and
// whitelists.
func (c *Checker) before(r Request) (k Key, d Decision, decided bool) {
	if Exempt(r.Sender, r.Rcpt) {
		return k, Decision{Allowed: true, Reason: ReasonExempt}, true
	}
	k = MakeKey(r, c.o.Params)
	if c.whitelisted(r.Client, k) {
		return k, Decision{Allowed: true, Reason: ReasonWhitelist}, true
	}
	return k, d, false
}

// Peek tells what Check would decide now, without changing the store:
// `spamgate explain` must not greylist (or pass) anything.
func (c *Checker) Peek(ctx context.Context, r Request) (Decision, error) {
	k, d, decided := c.before(r)
	if decided {
		return d, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	e, err := c.s.Status(ctx, k)
	if err != nil {
		return Decision{}, fmt.Errorf("greylist status: %w", err)
	}
	return c.o.Params.decide(e, c.o.Now()), nil
}

// whitelisted applies the static and the dynamic whitelists.
func (c *Checker) whitelisted(client netip.Addr, k Key) bool {
	client = client.Unmap()
	sd := senderDomain(k.Sender)
	_, rd, _ := cutLast(k.Rcpt, "@")
	if inNetworks(client, c.o.Networks) || domainMatches(sd, c.o.SenderDomains) ||
		domainMatches(rd, c.o.RecipientDomains) {
		return true
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.dynamic.match(client, sd, c.o.Now())
}

func inNetworks(a netip.Addr, nets []netip.Prefix) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func maskAll(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out
}

func normalizeDomains(ds []string) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		if d = normalizeDomain(d); d != "" {
			out = append(out, d)
		}
	}
	return out
}
