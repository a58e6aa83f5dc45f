package greylist

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// clock is a test clock, advanced by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Unix(1_800_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newStoreFunc makes an empty store on the given clock.
type newStoreFunc func(t *testing.T, clk *clock) Store

var suiteParams = Params{
	Delay:       5 * time.Minute,
	RetryWindow: 48 * time.Hour,
	PassTTL:     35 * 24 * time.Hour,
	AWLCount:    3,
	AWLTTL:      35 * 24 * time.Hour,
}

func key(n int) Key {
	return MakeKey(Request{
		Client: netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", n)),
		Sender: fmt.Sprintf("sender%d@example.com", n),
		Rcpt:   "rcpt@example.org",
	}, suiteParams)
}

// runSuite checks the semantics every store must share.
func runSuite(t *testing.T, newStore newStoreFunc) {
	ctx := context.Background()
	p := suiteParams
	check := func(t *testing.T, s Store, k Key, want Decision) {
		t.Helper()
		got, err := s.Check(ctx, k, p)
		if err != nil {
			t.Fatalf("Check(%v): %v", k, err)
		}
		if got != want {
			t.Fatalf("Check(%v) = %+v, want %+v", k, got, want)
		}
	}
	newDec := Decision{Wait: p.Delay, Reason: ReasonNew}
	pass := Decision{Allowed: true, Reason: ReasonPass}

	t.Run("greylist then pass", func(t *testing.T) {
		clk := newClock()
		s := newStore(t, clk)
		k := key(1)
		check(t, s, k, newDec)
		clk.Advance(2 * time.Minute)
		check(t, s, k, Decision{Wait: 3 * time.Minute, Reason: ReasonEarly})
		clk.Advance(3*time.Minute - time.Millisecond)
		check(t, s, k, Decision{Wait: time.Millisecond, Reason: ReasonEarly})
		clk.Advance(time.Millisecond)
		check(t, s, k, pass)
		check(t, s, k, pass)
		check(t, s, key(2), newDec) // another triplet is still new
		e, err := s.Status(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		first := clk.Now().Add(-p.Delay)
		want := Entry{FirstSeen: first, PassedAt: clk.Now(), Expires: clk.Now().Add(p.PassTTL),
			AWLCount: 1, AWLExpires: clk.Now().Add(p.AWLTTL)}
		if !entryEqual(e, want) {
			t.Errorf("Status = %+v, want %+v", e, want)
		}
	})

	t.Run("retry window expiry", func(t *testing.T) {
		clk := newClock()
		s := newStore(t, clk)
		k := key(1)
		check(t, s, k, newDec)
		clk.Advance(p.RetryWindow - time.Millisecond)
		check(t, s, k, pass) // late, but inside the window
		k = key(2)
		check(t, s, k, newDec)
		clk.Advance(p.RetryWindow)
		check(t, s, k, newDec) // gone: starts over
		unknown := MakeKey(Request{Client: netip.MustParseAddr("203.0.113.1"), Sender: "x@example.com", Rcpt: "y@example.org"}, p)
		if e, _ := s.Status(ctx, unknown); !entryEqual(e, Entry{}) {
			t.Errorf("Status of an unknown triplet = %+v, want zero", e)
		}
	})

	t.Run("pass renews TTL", func(t *testing.T) {
		clk := newClock()
		s := newStore(t, clk)
		k := key(1)
		check(t, s, k, newDec)
		clk.Advance(p.Delay)
		check(t, s, k, pass)
		for range 3 { // each use keeps it alive beyond the first pass TTL
			clk.Advance(p.PassTTL - time.Hour)
			check(t, s, k, pass)
		}
		clk.Advance(p.PassTTL)
		check(t, s, k, newDec) // unused for PassTTL: gone
	})

	t.Run("auto-whitelist", func(t *testing.T) {
		clk := newClock()
		s := newStore(t, clk)
		client := netip.MustParseAddr("198.51.100.7")
		mk := func(i int) Key {
			return MakeKey(Request{Client: client.Next(), Sender: fmt.Sprintf("s%d@example.com", i), Rcpt: fmt.Sprintf("r%d@example.org", i)}, p)
		}
		for i := range p.AWLCount {
			check(t, s, mk(i), newDec)
		}
		clk.Advance(p.Delay)
		for i := range p.AWLCount {
			check(t, s, mk(i), pass)
		}
		awl := Decision{Allowed: true, Reason: ReasonAWL}
		check(t, s, mk(100), awl) // never seen, but its network passed enough
		other := MakeKey(Request{Client: netip.MustParseAddr("198.51.101.7"), Sender: "s@example.com", Rcpt: "r@example.org"}, p)
		check(t, s, other, newDec)
		clk.Advance(p.AWLTTL - time.Second)
		check(t, s, mk(101), awl) // renewed on use
		clk.Advance(p.AWLTTL)
		check(t, s, mk(102), newDec)
	})

	t.Run("release", func(t *testing.T) {
		clk := newClock()
		s := newStore(t, clk)
		k := key(1)
		check(t, s, k, newDec)
		if err := s.Release(ctx, k, p); err != nil {
			t.Fatal(err)
		}
		check(t, s, k, pass)
		k2 := key(2) // never seen
		if err := s.Release(ctx, k2, p); err != nil {
			t.Fatal(err)
		}
		check(t, s, k2, pass)
		c, err := s.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := (Counts{Passed: 2}); c != want {
			t.Errorf("Counts = %+v, want %+v (Release counts no pass for the auto-whitelist)", c, want)
		}
	})

	t.Run("counts", func(t *testing.T) {
		clk := newClock()
		s := newStore(t, clk)
		check(t, s, key(1), newDec)
		check(t, s, key(2), newDec)
		clk.Advance(p.Delay)
		check(t, s, key(1), pass)
		if err := s.AddWhitelist(ctx, WhitelistEntry{Kind: KindDomain, Value: "example.net"}); err != nil {
			t.Fatal(err)
		}
		c, err := s.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := (Counts{Waiting: 1, Passed: 1, AWLClients: 1, Whitelist: 1}); c != want {
			t.Errorf("Counts = %+v, want %+v", c, want)
		}
	})

	t.Run("whitelist", func(t *testing.T) {
		clk := newClock()
		s := newStore(t, clk)
		exp := clk.Now().Add(time.Hour)
		for _, w := range []WhitelistEntry{
			{Kind: KindNetwork, Value: "192.0.2.9/24"},
			{Kind: KindNetwork, Value: "2001:db8::1"},
			{Kind: KindDomain, Value: "Example.NET.", Expires: exp},
		} {
			if err := s.AddWhitelist(ctx, w); err != nil {
				t.Fatalf("AddWhitelist(%+v): %v", w, err)
			}
		}
		if err := s.AddWhitelist(ctx, WhitelistEntry{Kind: "ip", Value: "x"}); err == nil {
			t.Error("AddWhitelist of kind ip: no error")
		}
		if err := s.AddWhitelist(ctx, WhitelistEntry{Kind: KindNetwork, Value: "192.0.2.300"}); err == nil {
			t.Error("AddWhitelist of a bad network: no error")
		}
		want := []WhitelistEntry{
			{Kind: KindDomain, Value: "example.net", Expires: exp},
			{Kind: KindNetwork, Value: "192.0.2.0/24"},
			{Kind: KindNetwork, Value: "2001:db8::1/128"},
		}
		listEqual(t, s, want)
		if err := s.RemoveWhitelist(ctx, KindNetwork, "192.0.2.0/24"); err != nil {
			t.Fatal(err)
		}
		listEqual(t, s, []WhitelistEntry{want[0], want[2]})
		clk.Advance(time.Hour)
		listEqual(t, s, want[2:])
	})
}

func listEqual(t *testing.T, s Store, want []WhitelistEntry) {
	t.Helper()
	got, err := s.Whitelist(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Whitelist = %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i].Kind != want[i].Kind || got[i].Value != want[i].Value || !got[i].Expires.Equal(want[i].Expires) {
			t.Fatalf("Whitelist = %+v, want %+v", got, want)
		}
	}
}

func entryEqual(a, b Entry) bool {
	return a.FirstSeen.Equal(b.FirstSeen) && a.PassedAt.Equal(b.PassedAt) && a.Expires.Equal(b.Expires) &&
		a.AWLCount == b.AWLCount && a.AWLExpires.Equal(b.AWLExpires)
}

func TestMemorySuite(t *testing.T) {
	runSuite(t, func(t *testing.T, clk *clock) Store {
		m, err := NewMemory(MemoryOptions{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close() })
		return m
	})
}
