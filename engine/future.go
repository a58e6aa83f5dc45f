package engine

import (
	"context"
	"time"

	"spamgate/dnsx"
)

// future is a lookup started as soon as its inputs are known (DNSBL at
// connect, sender domain and SPF at MAIL) and awaited by the stage that needs
// its answer.
type future[T any] struct {
	done chan struct{}
	val  T
}

func start[T any](f func() T) *future[T] {
	fu := &future[T]{done: make(chan struct{})}
	go func() {
		defer close(fu.done)
		fu.val = f()
	}()
	return fu
}

// done is a future that already has its value.
func done[T any](v T) *future[T] {
	fu := &future[T]{done: make(chan struct{}), val: v}
	close(fu.done)
	return fu
}

// wait returns the value, or ok=false when ctx ends first. The lookups bound
// themselves with the check timeout, so ctx only matters when the session
// itself goes away.
func (f *future[T]) wait(ctx context.Context) (v T, ok bool) {
	select {
	case <-f.done:
		return f.val, true
	case <-ctx.Done():
		return v, false
	}
}

// lookup starts a check that only needs DNS, under the check timeout and
// timed as check. When the DNS cache can answer all of it (repeat senders)
// it runs at once and starts no goroutine: at low load every goroutine start
// wakes a thread, a context switch that cost more CPU than the check. Else
// it runs in a goroutine, as start does.
func lookup[T any](s *Session, parent context.Context, check string, f func(context.Context) T) *future[T] {
	t0 := time.Now()
	probe, missed := dnsx.CacheOnly(parent)
	if v := f(probe); !missed() {
		s.e.timed(check, t0)
		return done(v)
	}
	return start(func() T {
		ctx, cancel := context.WithTimeout(parent, s.e.timeout)
		defer cancel()
		defer s.e.timed(check, t0)
		return f(ctx)
	})
}
