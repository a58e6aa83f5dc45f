package dnsx_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"spamgate/dnsx"
)

// slowZone answers every name under slow.test, after the server's delay.
const slowZone = "$ORIGIN slow.test.\n$TTL 3600\n* A 192.0.2.1\n"

// result is how one lookup of a concurrent batch ended.
type result struct {
	err  error
	took time.Duration
}

// lookupBatch looks up n distinct names at once, the i-th under ctxs[i%len(ctxs)],
// and returns how each ended.
func lookupBatch(r *dnsx.Resolver, ctxs []context.Context, n int) []result {
	out := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_, err := r.LookupIP(ctxs[i%len(ctxs)], "ip4", fmt.Sprintf("n%d.slow.test", i))
			out[i] = result{err, time.Since(start)}
		}()
	}
	wg.Wait()
	return out
}

// Issue 12.3: one session's lookups never have more than its limit of
// queries outstanding at the nameserver; the others wait their turn, and
// all are answered.
func TestSessionLimit(t *testing.T) {
	srv, _ := start(t, slowZone)
	srv.SetDelay(20 * time.Millisecond)
	r := newResolver(t, dnsx.Config{}, srv.Addr)
	ctx := dnsx.WithSessionLimit(ctxTimeout(t, 10*time.Second), 4)
	for i, res := range lookupBatch(r, []context.Context{ctx}, 100) {
		if res.err != nil {
			t.Fatalf("lookup %d: %v", i, res.err)
		}
	}
	if got := srv.MaxInFlight(); got != 4 {
		t.Errorf("the server held %d queries at once, want the session limit, 4", got)
	}
	st := r.Stats()
	if st.WaitsSession == 0 || st.WaitsProcess != 0 || st.WaitFailures != 0 || st.InFlight != 0 {
		t.Errorf("stats %+v: want session waits only, and nothing left in flight", st)
	}
}

// The process limit holds across sessions whose own limits add up to more.
func TestProcessLimit(t *testing.T) {
	srv, _ := start(t, slowZone)
	srv.SetDelay(20 * time.Millisecond)
	r := newResolver(t, dnsx.Config{MaxInflight: 6}, srv.Addr)
	base := ctxTimeout(t, 10*time.Second)
	var sessions []context.Context
	for range 3 {
		sessions = append(sessions, dnsx.WithSessionLimit(base, 4))
	}
	for i, res := range lookupBatch(r, sessions, 90) {
		if res.err != nil {
			t.Fatalf("lookup %d: %v", i, res.err)
		}
	}
	if got := srv.MaxInFlight(); got > 6 || got < 4 {
		t.Errorf("the server held %d queries at once, want at most the process limit, 6", got)
	}
	if st := r.Stats(); st.WaitsProcess == 0 {
		t.Errorf("stats %+v: no process wait counted", st)
	}
}

// A lookup that waits for a slot gives up when its ctx ends, as a timeout
// (temporary: the caller tempfails), never later than the deadline by more
// than scheduling; and a ctx without deadline does not wait forever.
func TestLimitWaitEndsWithCtx(t *testing.T) {
	srv, _ := start(t, slowZone)
	srv.SetDelay(time.Hour) // held until the test ends
	// The ctx deadline comes before the query timeout: the first two hold
	// their slots until it, and the six others wait until it.
	r := newResolver(t, dnsx.Config{Attempts: 1, Timeout: 5 * time.Second}, srv.Addr)
	const deadline = 150 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	ctx = dnsx.WithSessionLimit(ctx, 2)
	for i, res := range lookupBatch(r, []context.Context{ctx}, 8) {
		if !dnsx.IsTemporary(res.err) || !dnsError(t, res.err).IsTimeout {
			t.Errorf("lookup %d: %v, want a timeout", i, res.err)
		}
		if res.took > 10*deadline {
			t.Errorf("lookup %d took %v, deadline %v", i, res.took, deadline)
		}
	}
	st := r.Stats()
	if st.WaitsSession != 6 || st.WaitFailures != 6 || st.InFlight != 0 || st.Queries != 2 {
		t.Errorf("stats %+v: want 2 queries, 6 waits that failed, nothing in flight", st)
	}

	// Without a deadline: each query gives up after its attempts, and a
	// waiter waits no longer than a query could take.
	r = newResolver(t, dnsx.Config{Attempts: 1, Timeout: 50 * time.Millisecond}, srv.Addr)
	free := dnsx.WithSessionLimit(context.Background(), 1)
	done := make(chan []result)
	go func() { done <- lookupBatch(r, []context.Context{free}, 3) }()
	select {
	case res := <-done:
		for i, res := range res {
			if !dnsx.IsTemporary(res.err) {
				t.Errorf("lookup %d without deadline: %v, want a temporary error", i, res.err)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("lookups without deadline hang waiting for a slot")
	}
}

// A cache hit takes no slot: a session at its limit still gets cached
// answers at once.
func TestLimitCacheHitTakesNoSlot(t *testing.T) {
	srv, _ := start(t, slowZone)
	r := newResolver(t, dnsx.Config{}, srv.Addr)
	ctx := dnsx.WithSessionLimit(ctxTimeout(t, 10*time.Second), 1)
	if _, err := r.LookupIP(ctx, "ip4", "cached.slow.test"); err != nil {
		t.Fatal(err)
	}
	srv.SetDelay(time.Hour)
	go func() { _, _ = r.LookupIP(ctx, "ip4", "held.slow.test") }() // holds the one slot
	for srv.Queries() < 2 {
		time.Sleep(time.Millisecond)
	}
	if _, err := r.LookupIP(ctx, "ip4", "cached.slow.test"); err != nil {
		t.Fatalf("cached answer under a full session: %v", err)
	}
	if st := r.Stats(); st.WaitsSession != 0 || st.InFlight != 1 {
		t.Fatalf("stats %+v: want no wait and the held query in flight", st)
	}
}
