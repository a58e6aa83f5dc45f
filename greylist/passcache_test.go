package greylist

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// countingStore counts the checks that reach the store.
type countingStore struct {
	Store
	checks atomic.Int64
}

func (s *countingStore) Check(ctx context.Context, k Key, p Params) (Decision, error) {
	s.checks.Add(1)
	return s.Store.Check(ctx, k, p)
}

// TestPassCache: with CheckerOptions.PassCache, a triplet the store let
// pass is not asked again until the entry expires; deferrals are never
// remembered, so a greylisted triplet passes as soon as the store says so.
func TestPassCache(t *testing.T) {
	clk := newClock()
	store := &countingStore{Store: newMemory(t, MemoryOptions{Now: clk.Now})}
	c := NewChecker(store, CheckerOptions{Params: suiteParams, PassCache: time.Minute, Now: clk.Now}, nil)
	ctx := context.Background()
	r := Request{Client: netip.MustParseAddr("192.0.2.10"), Sender: "a@sender.test", Rcpt: "b@rcpt.test"}
	check := func(want string, wantChecks int64) {
		t.Helper()
		d, err := c.Check(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if d.Reason != want || store.checks.Load() != wantChecks {
			t.Fatalf("decision %q after %d store checks, want %q after %d", d.Reason, store.checks.Load(), want, wantChecks)
		}
	}
	check(ReasonNew, 1)
	check(ReasonEarly, 2) // a deferral is not remembered
	clk.Advance(suiteParams.Delay)
	check(ReasonPass, 3)
	check(ReasonPass, 3) // remembered
	check(ReasonPass, 3)
	clk.Advance(time.Minute)
	check(ReasonPass, 4) // expired here: the store refreshes the triplet
	check(ReasonPass, 4)

	// Another recipient is another triplet.
	r.Rcpt = "c@rcpt.test"
	check(ReasonNew, 5)

	// Without the option every check reaches the store.
	plain := &countingStore{Store: newMemory(t, MemoryOptions{Now: clk.Now})}
	c = NewChecker(plain, CheckerOptions{Params: suiteParams, Now: clk.Now}, nil)
	for range 3 {
		if _, err := c.Check(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if n := plain.checks.Load(); n != 3 {
		t.Errorf("without a pass cache: %d store checks, want 3", n)
	}
}
