package dnsx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/maypok86/otter/v2"
)

// The cache is otter v2 rather than a map behind singleflight: it gives in
// one piece a size bound with a good eviction policy (W-TinyLFU), a TTL per
// entry, and loads that coalesce concurrent misses of a key into one query.
// It also handles the subtle case of coalescing: when the caller whose ctx
// runs the query gives up, the callers waiting on it with a live ctx load
// again instead of inheriting its timeout.
//
// Entries are *answer values that are never modified once built (see
// answer), so one entry can be handed to any number of callers.

// newCache makes a cache bounded by the estimated heap of its entries,
// cfg.CacheBytes, and by their count when cfg.CacheSize is positive.
func newCache(cfg Config) (*otter.Cache[key, *answer], error) {
	c, err := otter.New(&otter.Options[key, *answer]{
		MaximumWeight: uint64(cfg.CacheBytes),
		Weigher:       weigher(entryFloor(cfg.CacheBytes, cfg.CacheSize)),
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[key, *answer]) time.Duration {
			return e.Value.ttl
		}),
		// Maintenance (draining the read and write buffers) runs on the
		// goroutine that triggered it: by default otter starts a goroutine
		// for it, about every second message at one message at a time, and
		// each start wakes an idle thread, a context switch that costs more
		// than the few microseconds of the drain. There are no deletion
		// handlers or refreshes that could run under a lock here.
		Executor: func(fn func()) { fn() },
	})
	if err != nil {
		return nil, fmt.Errorf("dnsx: cache: %w", err)
	}
	return c, nil
}

// uncached carries an answer that must not be cached (a failure, a TTL of
// 0, a negative answer without SOA, one over MaxAnswerBytes) out of the loader: otter stores
// whatever a loader returns without error, and hands an error to every
// caller that waited on the load.
type uncached struct{ a *answer }

func (u *uncached) Error() string { return "dnsx: uncacheable answer" }

// load is the cache's loader: one query, run for all concurrent misses of k.
func (r *Resolver) load(ctx context.Context, k key) (*answer, error) {
	a := r.query(ctx, k)
	if a.outcome == failed && expired(ctx) {
		// otter lets the callers waiting on this load load again, with
		// their own ctx, when ctx.Err() says the loader's ctx had ended.
		// Our deadline may have passed a moment before ctx's timer fires.
		<-ctx.Done()
	}
	if a.outcome == failed || a.ttl <= 0 {
		return nil, &uncached{a}
	}
	// a is not shared yet: no caller has it before load returns.
	size := a.heapBytes(len(k.name))
	if size > r.maxAnswer {
		// A 64 KB TXT answer from a hostile wildcard would evict hundreds
		// of useful entries; no record that mail needs is that big.
		r.stats.oversized.Add(1)
		return nil, &uncached{a}
	}
	a.weight = uint32(size)
	return a, nil
}

// resolve answers k from the cache or the nameservers.
func (r *Resolver) resolve(ctx context.Context, k key) *answer {
	if a, ok := r.cached(k); ok {
		return a
	}
	return r.resolveMiss(ctx, k)
}

// cached looks k up in the cache only.
func (r *Resolver) cached(k key) (*answer, bool) {
	if r.cache == nil {
		return nil, false
	}
	a, ok := r.cache.GetIfPresent(k)
	if ok {
		r.stats.hits.Add(1)
	}
	return a, ok
}

// resolveMiss asks the nameservers, through the cache's coalescing loader
// when there is a cache.
func (r *Resolver) resolveMiss(ctx context.Context, k key) *answer {
	if missedCache(ctx) {
		return notCached
	}
	if r.cache == nil {
		return r.query(ctx, k)
	}
	r.stats.misses.Add(1)
	a, err := r.cache.Get(ctx, k, r.loader)
	if err == nil {
		return a
	}
	var u *uncached
	if errors.As(err, &u) {
		return u.a
	}
	// Only ctx ends a Get without a load of ours: this caller's deadline
	// passed, or it was cancelled, while it waited for another's query.
	return exchangeFailure(err, "")
}
