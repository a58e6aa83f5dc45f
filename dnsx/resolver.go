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
	stats    counters
}

// Stats are counts since the Resolver was made. Without a cache, CacheHits
// and CacheMisses stay 0.
type Stats struct {
	Queries     uint64 // queries sent to nameservers, every attempt and TCP retry included
	CacheHits   uint64 // questions answered from the cache
	CacheMisses uint64 // questions the cache did not have (concurrent ones share a query)
	Errors      uint64 // questions that ended in a temporary error (not NXDOMAIN/NODATA)
}

type counters struct {
	queries, hits, misses, errors atomic.Uint64
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
	}
	if cfg.CacheSize > 0 {
		r.cache, err = newCache(cfg.CacheSize)
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
	}
}
