package dnsx

import (
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/miekg/dns"
)

// Resolver is a caching stub resolver. It is safe for concurrent use; one
// Resolver is meant to be shared by everything in a process that asks DNS.
type Resolver struct {
	servers  []string
	timeout  time.Duration
	attempts int
	maxTTL   time.Duration
	udp, tcp *dns.Client
	cache    *otter.Cache[key, *answer] // nil: no cache
	loader   otter.Loader[key, *answer]
	// maxAnswer is the largest answer cached, in heapBytes.
	maxAnswer int
	// slots bounds the questions being asked of nameservers (nil: no
	// bound); maxWait bounds the wait for a slot under a ctx without deadline.
	slots   *limiter
	maxWait time.Duration
	stats   counters
}

// Stats are counts since the Resolver was made, and two current levels
// (CacheBytes, InFlight). Without a cache, the cache fields stay 0.
type Stats struct {
	Queries     uint64 // queries sent to nameservers, every attempt and TCP retry included
	CacheHits   uint64 // questions answered from the cache
	CacheMisses uint64 // questions the cache did not have (concurrent ones share a query)
	Errors      uint64 // questions that ended in a temporary error (not NXDOMAIN/NODATA)

	CacheBytes     uint64 // now: the estimated heap of the cached answers (as charged against CacheBytes)
	CacheOversized uint64 // answers not cached for being over MaxAnswerBytes
	InFlight       uint64 // now: questions being asked of nameservers
	WaitsProcess   uint64 // questions that waited for a slot under MaxInflight
	WaitsSession   uint64 // questions that waited for a slot under WithSessionLimit
	WaitFailures   uint64 // questions that failed because their ctx ended before a slot freed
}

type counters struct {
	queries, hits, misses, errors atomic.Uint64
	oversized                     atomic.Uint64
	inFlight                      atomic.Int64
	waitsProcess, waitsSession    atomic.Uint64
	waitFailures                  atomic.Uint64
}

// New makes a Resolver. It fails on a malformed nameserver, or when none
// is configured and /etc/resolv.conf has none.
func New(cfg Config) (*Resolver, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Resolver{
		servers:  cfg.Nameservers,
		timeout:  cfg.Timeout,
		attempts: cfg.Attempts,
		maxTTL:   cfg.MaxTTL,
		udp:      &dns.Client{Net: "udp", Timeout: cfg.Timeout},
		tcp:      &dns.Client{Net: "tcp", Timeout: cfg.Timeout},
		// A question without deadline waits for a slot no longer than it
		// could take itself once it has one.
		maxWait:   time.Duration(cfg.Attempts*len(cfg.Nameservers)) * 2 * cfg.Timeout,
		maxAnswer: cfg.MaxAnswerBytes,
	}
	if cfg.MaxInflight > 0 {
		r.slots = newLimiter(cfg.MaxInflight)
	}
	if cfg.cached() {
		r.cache, err = newCache(cfg)
		if err != nil {
			return nil, err
		}
		r.loader = otter.LoaderFunc[key, *answer](r.load)
	}
	return r, nil
}

// Stats returns the counters. Each is read atomically; together they are
// not a snapshot of one instant.
func (r *Resolver) Stats() Stats {
	return Stats{
		Queries:     r.stats.queries.Load(),
		CacheHits:   r.stats.hits.Load(),
		CacheMisses: r.stats.misses.Load(),
		Errors:      r.stats.errors.Load(),

		CacheBytes:     r.cacheBytes(),
		CacheOversized: r.stats.oversized.Load(),
		InFlight:       uint64(max(r.stats.inFlight.Load(), 0)),
		WaitsProcess:   r.stats.waitsProcess.Load(),
		WaitsSession:   r.stats.waitsSession.Load(),
		WaitFailures:   r.stats.waitFailures.Load(),
	}
}

func (r *Resolver) cacheBytes() uint64 {
	if r.cache == nil {
		return 0
	}
	// otter applies writes through a buffer: without the clean-up the
	// size lags the answers just cached (Stats is read by scrapes and
	// tests, never on the query path).
	r.cache.CleanUp()
	return r.cache.WeightedSize()
}
