package dnsx

import (
	"context"
	"sync/atomic"
)

// cacheOnlyKey marks a context under which lookups are answered from the
// cache alone; its value is the *atomic.Bool that records a miss.
type cacheOnlyKey struct{}

// notCached is the answer to a question the cache could not answer under
// CacheOnly: a temporary failure, never cached and never counted.
var notCached = &answer{outcome: failed, errText: "not in the cache (cache-only lookup)"}

// CacheOnly returns a context under which the resolver answers from its
// cache alone: a question the cache cannot answer fails at once, without a
// query, and missed reports true from then on.
//
// It lets a caller run a whole check (SPF, a DNSBL lookup, reverse DNS)
// synchronously when every answer it needs is cached, which is the common
// case for repeat senders, and start a goroutine only otherwise: at low load
// each goroutine start wakes a thread, a context switch that cost more CPU
// than the check itself. After a miss the result must be thrown away and the
// check run again under a normal context. (The cached answers of such a
// discarded attempt count as cache hits twice in Stats.)
func CacheOnly(ctx context.Context) (probe context.Context, missed func() bool) {
	var m atomic.Bool
	return context.WithValue(ctx, cacheOnlyKey{}, &m), m.Load
}

// IsCacheOnly reports whether ctx came from CacheOnly: code that would
// start goroutines for its lookups runs them in line instead.
func IsCacheOnly(ctx context.Context) bool {
	_, ok := ctx.Value(cacheOnlyKey{}).(*atomic.Bool)
	return ok
}

// missedCache records a miss when ctx is cache-only and reports whether it is.
func missedCache(ctx context.Context) bool {
	m, ok := ctx.Value(cacheOnlyKey{}).(*atomic.Bool)
	if ok {
		m.Store(true)
	}
	return ok
}
