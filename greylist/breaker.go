package greylist

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Defaults of BreakerOptions ([greylist.redis] breaker_failures,
// breaker_open).
//
// OpenFor was a fixed 30 s: after a Sentinel promotion (4.3 s with
// down-after-milliseconds 3000) both MX hosts went on failing open for
// another 25 s while the new master was ready (issue 17). The open period
// is now the longest the breaker can lag behind a store that is back, so
// it is short: one trial call every 2 s costs a dead store at most one
// store timeout per 2 s, while the failover client (which follows
// +switch-master and asks the sentinels on each dial) is used again within
// about 2 s of the promotion.
const (
	DefaultBreakerFailures = 5
	DefaultBreakerOpenFor  = 2 * time.Second
)

// BreakerOptions configure the circuit breaker in front of the store.
type BreakerOptions struct {
	Failures int           // consecutive failures that open it
	OpenFor  time.Duration // how long it stays open before one trial call (half-open)
}

// breakerChange is what a call's outcome did to the breaker, for the log.
type breakerChange int

const (
	breakerSame   breakerChange = iota
	breakerOpened               // closed -> open
	breakerClosed               // open -> closed: the store answers again
)

// breaker fails calls fast while the store is down: after Failures
// consecutive failures it refuses calls for OpenFor, then lets one trial
// call through; its success closes it, its failure opens it again. Without
// it, every message would wait a full timeout on a dead Redis.
type breaker struct {
	o   BreakerOptions
	now func() time.Time

	mu       sync.Mutex
	failures int       // consecutive
	openedAt time.Time // zero while closed
	trial    bool      // a trial call is under way
	lastErr  error
	opened   uint64 // times it went from closed to open
}

func newBreaker(o BreakerOptions, now func() time.Time) *breaker {
	if o.Failures <= 0 {
		o.Failures = DefaultBreakerFailures
	}
	if o.OpenFor <= 0 {
		o.OpenFor = DefaultBreakerOpenFor
	}
	return &breaker{o: o, now: now}
}

// allow says whether a call may go to the store; when it may not, the
// error says why. A true answer must be followed by done.
func (b *breaker) allow() (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.openedAt.IsZero() {
		return true, nil
	}
	if b.trial || b.now().Sub(b.openedAt) < b.o.OpenFor {
		return false, b.openErr()
	}
	b.trial = true
	return true, nil
}

// done records the outcome of an allowed call and says what it changed.
// Calls that failed for the caller's sake (its context ended) count as
// neither.
func (b *breaker) done(err error, callerGaveUp bool) breakerChange {
	b.mu.Lock()
	defer b.mu.Unlock()
	wasTrial := b.trial
	b.trial = false
	wasOpen := !b.openedAt.IsZero()
	switch {
	case callerGaveUp, errors.Is(err, errSlotMoving):
		// Neither says anything about the store's health: the caller's
		// own deadline, or one Cluster slot in migration.
	case err == nil:
		b.failures, b.openedAt, b.lastErr = 0, time.Time{}, nil
		if wasOpen {
			return breakerClosed
		}
	default:
		b.failures++
		b.lastErr = err
		if wasTrial || b.failures >= b.o.Failures {
			b.openedAt = b.now()
			if !wasOpen {
				b.opened++
				return breakerOpened
			}
		}
	}
	return breakerSame
}

// openings is how often the breaker opened since it was made.
func (b *breaker) openings() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opened
}

// healthy is nil while closed, or why it is open.
func (b *breaker) healthy() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.openedAt.IsZero() {
		return nil
	}
	return b.openErr()
}

// openErr is the error of a refused call; b.mu is held.
func (b *breaker) openErr() error {
	return fmt.Errorf("%w: %d consecutive failures, failing fast since %s (trial every %s): last error: %v",
		ErrUnavailable, b.failures, b.openedAt.Format(time.RFC3339), b.o.OpenFor, b.lastErr)
}
