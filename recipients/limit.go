package recipients

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ErrRateLimited is matched (errors.Is) by Check's error when the client's network
// has spent its budget of LDAP misses: the address was not looked up. It matches
// ErrUnavailable too, so a caller that knows only that tempfails: the sender retries
// later, a real recipient is never refused for good.
var ErrRateLimited = fmt.Errorf("%w: client over its budget of unknown recipients", ErrUnavailable)

// Client networks share limits: a /24 for IPv4, a /64 for IPv6, where one host's
// neighbours are usually the same machine or operator.
const (
	clientBitsV4 = 24
	clientBitsV6 = 64
)

// maxClientNets bounds the networks tracked. Past it, the idle ones are forgotten (they
// start again with a full budget): a botnet of more networks than that is not slowed
// by the miss budget, but it can't grow the memory either.
const maxClientNets = 65536

// clientLimits keeps one client network from holding the LDAP pool during a
// dictionary attack, so that the others' lookups keep moving:
//
//   - at most perClient of its lookups use the pool at once (by default half of it);
//     the others wait for their turn, not in the pool's queue, where they would
//     delay every other client's lookups;
//   - it may cause missBurst lookups of unknown addresses, refilled at missRate a
//     second (a token bucket); once it has none left, its uncached addresses are not
//     looked up (ErrRateLimited, which the engine tempfails).
//
// Addresses the cache answers and known addresses cost no budget: a client's
// legitimate mail keeps flowing while its random local parts get 451.
type clientLimits struct {
	perClient int     // 0: no concurrency limit
	missRate  float64 // tokens per second; 0: no budget
	missBurst float64
	now       func() time.Time

	mu   sync.Mutex
	nets map[netip.Prefix]*clientState

	refused atomic.Int64 // lookups not made: budget spent
	waited  atomic.Int64 // lookups that waited for the client's turn
}

type clientState struct {
	turn   chan struct{} // one token per lookup of this client using the pool
	active int           // lookups entered and not yet left
	tokens float64       // misses left
	last   time.Time     // when tokens were last refilled
}

func newClientLimits(perClient int, missesPerMinute int) *clientLimits {
	if perClient <= 0 && missesPerMinute <= 0 {
		return nil
	}
	l := &clientLimits{perClient: max(perClient, 0), now: time.Now, nets: map[netip.Prefix]*clientState{}}
	if missesPerMinute > 0 {
		l.missRate, l.missBurst = float64(missesPerMinute)/60, float64(missesPerMinute)
	}
	return l
}

// clientNet is the network whose limits apply to addr.
func clientNet(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	bits := clientBitsV6
	if addr.Is4() {
		bits = clientBitsV4
	}
	p, _ := addr.Prefix(bits)
	return p
}

// enter admits one uncached lookup for client: it fails with ErrRateLimited when the
// client's budget is spent, and otherwise reserves a miss and waits (within ctx) for
// the client's turn.
// The caller must call leave with whether LDAP said the address is unknown.
func (l *clientLimits) enter(ctx context.Context, client netip.Addr) (*clientState, error) {
	st, err := l.admit(clientNet(client))
	if err != nil {
		return nil, err
	}
	if st.turn == nil {
		return st, nil
	}
	select {
	case st.turn <- struct{}{}:
		return st, nil
	default:
	}
	l.waited.Add(1)
	select {
	case st.turn <- struct{}{}:
		return st, nil
	case <-ctx.Done():
		l.done(st, false)
		return nil, fmt.Errorf("%w: waiting for this client's other LDAP lookups: %w", ErrUnavailable, ctx.Err())
	}
}

// admit checks the budget and counts the lookup in.
func (l *clientLimits) admit(n netip.Prefix) (*clientState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	st := l.nets[n]
	if st == nil {
		l.makeRoom(now)
		st = &clientState{tokens: l.missBurst, last: now}
		if l.perClient > 0 {
			st.turn = make(chan struct{}, l.perClient)
		}
		l.nets[n] = st
	}
	if l.missRate > 0 {
		st.refill(now, l.missRate, l.missBurst)
		if st.tokens < 1 {
			l.refused.Add(1)
			return nil, ErrRateLimited
		}
		st.tokens-- // reserved, so that lookups waiting for their turn can't overdraw; refunded unless a miss
	}
	st.active++
	return st, nil
}

func (st *clientState) refill(now time.Time, rate, burst float64) {
	if d := now.Sub(st.last); d > 0 {
		st.tokens = min(burst, st.tokens+d.Seconds()*rate)
		st.last = now
	}
}

// leave ends a lookup that enter admitted.
func (l *clientLimits) leave(st *clientState, missed bool) {
	if st.turn != nil {
		<-st.turn
	}
	l.done(st, missed)
}

func (l *clientLimits) done(st *clientState, missed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st.active--
	if !missed && l.missRate > 0 {
		st.tokens = min(l.missBurst, st.tokens+1)
	}
}

// makeRoom forgets networks when too many are tracked: first those idle with a full
// budget (nothing is lost), then every idle one. l.mu is held.
func (l *clientLimits) makeRoom(now time.Time) {
	if len(l.nets) < maxClientNets {
		return
	}
	for n, st := range l.nets {
		if st.active == 0 {
			st.refill(now, l.missRate, l.missBurst)
			if l.missRate == 0 || st.tokens >= l.missBurst {
				delete(l.nets, n)
			}
		}
	}
	if len(l.nets) < maxClientNets {
		return
	}
	for n, st := range l.nets {
		if st.active == 0 {
			delete(l.nets, n)
		}
	}
}
