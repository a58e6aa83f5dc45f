package dmarc

import (
	"context"
	"sync"
)

// Prefetcher starts the DNS queries of a DMARC evaluation before the
// evaluation itself, which has to wait for the end of the message (DKIM
// results): the queries of every DNS Tree Walk from a domain are sent
// together, at MAIL FROM for the envelope domain and at the From field for
// the Author Domain, and Evaluate later reads their answers. A walk that
// would cost one round trip per label costs one round trip, spent while the
// message is still being received.
//
// A Prefetcher is itself the Resolver to pass to Evaluate. Names it did not
// prefetch go to the underlying resolver. It is safe for concurrent use.
type Prefetcher struct {
	r   Resolver
	ctx context.Context
	// CacheOnly, when set, gives a context under which r answers from its
	// cache alone and reports a miss (spamgate/dnsx.CacheOnly): a name it
	// answers is not fetched in a goroutine of its own.
	CacheOnly func(context.Context) (context.Context, func() bool)

	mu      sync.Mutex
	pending map[string]*pendingTXT
}

type pendingTXT struct {
	done chan struct{}
	txts []string
	err  error
}

// NewPrefetcher returns a Prefetcher whose queries run under ctx (the
// message's context: they stop when the message ends).
func NewPrefetcher(ctx context.Context, r Resolver) *Prefetcher {
	return &Prefetcher{r: r, ctx: ctx, pending: map[string]*pendingTXT{}}
}

// Prefetch starts the queries of a DNS Tree Walk from domain (RFC 9989
// 4.10): at most eight "_dmarc." names, each queried once per Prefetcher.
// A domain that is not a valid name is ignored; Evaluate reports it.
func (p *Prefetcher) Prefetch(domain string) {
	name, err := normalizeDomain(domain)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range walkNames(name) {
		q := "_dmarc." + d
		if _, ok := p.pending[q]; ok {
			continue
		}
		pt := &pendingTXT{done: make(chan struct{})}
		p.pending[q] = pt
		if p.CacheOnly != nil {
			probe, missed := p.CacheOnly(p.ctx)
			if pt.txts, pt.err = p.r.LookupTXT(probe, q); !missed() {
				close(pt.done)
				continue
			}
		}
		go func() {
			defer close(pt.done)
			pt.txts, pt.err = p.r.LookupTXT(p.ctx, q)
		}()
	}
}

// LookupTXT answers a prefetched name once its query is done, and passes
// any other name to the underlying resolver.
func (p *Prefetcher) LookupTXT(ctx context.Context, name string) ([]string, error) {
	p.mu.Lock()
	pt := p.pending[name]
	p.mu.Unlock()
	if pt == nil {
		return p.r.LookupTXT(ctx, name)
	}
	select {
	case <-pt.done:
		return pt.txts, pt.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
