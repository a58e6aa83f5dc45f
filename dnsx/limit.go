package dnsx

import (
	"context"
)

// Queries in flight are bounded twice (docs/HOSTILE.md): per process, so
// that hostile mail cannot spend every file descriptor on UDP sockets nor
// turn the host into a random-subdomain flood against someone else's name
// servers; and per session, so that one message that names 100,000 domains
// waits on its own slots instead of taking the whole process's.
//
// A slot is held by a question for as long as it is being asked of the
// nameservers (every attempt, and the TCP retry, one after another). A
// question the cache answers, or that joins another caller's query for the
// same key, takes none.

// limiter is a counting semaphore. The buffered channel makes the fast path
// (a free slot) one non-blocking send: no allocation, no lock held while
// waiting, and a wait that ends with ctx in the same select.
type limiter struct {
	slots chan struct{}
}

func newLimiter(n int) *limiter { return &limiter{slots: make(chan struct{}, n)} }

// tryAcquire takes a slot if one is free.
func (l *limiter) tryAcquire() bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// acquire waits for a slot until done is closed; false if it was.
func (l *limiter) acquire(done <-chan struct{}) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	case <-done:
		return false
	}
}

func (l *limiter) release() { <-l.slots }

// DefaultMaxInflightSession is the per-session limit the configuration
// gives WithSessionLimit unless told otherwise: far above what one honest
// message needs (SPF's 10 lookups, a few DKIM keys, one DMARC walk), far
// below what a process can take.
const DefaultMaxInflightSession = 32

// sessionKey marks a context with the session's *limiter.
type sessionKey struct{}

// WithSessionLimit returns a context under which at most n questions are
// asked of the nameservers at once, counting every lookup made under it
// (and under contexts derived from it); beyond that a lookup waits for a
// slot, and fails as a timeout (a temporary error) if its ctx ends first.
// The engine makes one per SMTP session, with [dns] max_inflight_session.
// n <= 0 returns ctx unchanged. The resolver's process-wide MaxInflight
// applies as well.
func WithSessionLimit(ctx context.Context, n int) context.Context {
	if n <= 0 {
		return ctx
	}
	return context.WithValue(ctx, sessionKey{}, newLimiter(n))
}

// scope says which limit a wait or failure is counted against.
type scope uint8

const (
	scopeSession scope = iota
	scopeProcess
)

// errNoSlot is the failure of a question whose ctx ended while it waited
// for a slot; like a timeout, it is temporary.
const errNoSlot = "i/o timeout (waiting for a query slot: too many DNS queries in flight)"

// acquireSlots takes the session's slot, then the process's: in that
// order, so that a session at its own limit holds no process slot while it
// waits. It returns the session limiter to release (nil if none) and a
// failure answer when ctx ended first.
func (r *Resolver) acquireSlots(ctx context.Context) (*limiter, *answer) {
	sess, _ := ctx.Value(sessionKey{}).(*limiter)
	if sess != nil && !r.take(ctx, sess, scopeSession) {
		return nil, failure("", errNoSlot, true)
	}
	if r.slots != nil && !r.take(ctx, r.slots, scopeProcess) {
		if sess != nil {
			sess.release()
		}
		return nil, failure("", errNoSlot, true)
	}
	r.stats.inFlight.Add(1)
	return sess, nil
}

// releaseSlots gives back what acquireSlots took.
func (r *Resolver) releaseSlots(sess *limiter) {
	r.stats.inFlight.Add(-1)
	if r.slots != nil {
		r.slots.release()
	}
	if sess != nil {
		sess.release()
	}
}

// take gets a slot of l, waiting within ctx when none is free. A ctx
// without deadline waits at most r.maxWait, so that nothing hangs.
func (r *Resolver) take(ctx context.Context, l *limiter, s scope) bool {
	if l.tryAcquire() {
		return true
	}
	if s == scopeSession {
		r.stats.waitsSession.Add(1)
	} else {
		r.stats.waitsProcess.Add(1)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.maxWait)
		defer cancel()
	}
	ok := l.acquire(ctx.Done())
	if ok && expired(ctx) {
		// The slot came free as ctx ended (select picks either at random),
		// or ctx's deadline passed before its timer fired: the question
		// could not be asked anyway, so the slot goes to the next waiter.
		l.release()
		ok = false
	}
	if !ok {
		r.stats.waitFailures.Add(1)
	}
	return ok
}
