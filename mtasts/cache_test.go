package mtasts

import (
	"fmt"
	"testing"
	"time"
)

// A flood of domains looked up once, each with a policy of the longest max_age, does
// not push out a policy that is in use, even one that expires much sooner (the cache
// used to evict the policy that expires first: the legitimate one).
func TestCacheFloodKeepsUsedPolicy(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	pol := func(maxAge time.Duration) *Policy {
		return &Policy{Mode: ModeEnforce, MX: []string{"mx.example"}, MaxAge: maxAge, Fetched: now}
	}
	const size, attackers = 100, 1000
	c := newCache(size)
	c.store("legit.example", pol(7*24*time.Hour))
	for i := range attackers {
		c.policy(fmt.Sprintf("a%d.attack.example", i), now) // the lookup that misses
		c.store(fmt.Sprintf("a%d.attack.example", i), pol(MaxMaxAge))
		if i%10 == 0 && c.policy("legit.example", now) == nil {
			t.Fatalf("legitimate policy evicted after %d attacker domains", i+1)
		}
	}
	// A domain read more than once stays even when nothing reads it during a flood.
	for i := range attackers {
		c.store(fmt.Sprintf("b%d.attack.example", i), pol(MaxMaxAge))
	}
	if c.policy("legit.example", now) == nil {
		t.Fatal("legitimate policy evicted by a flood while it was not read")
	}
	if n := c.len(); n > size {
		t.Errorf("%d entries, want at most %d", n, size)
	}
	if ev := c.evicted.Load(); ev < 2*attackers-size {
		t.Errorf("%d evictions counted, want at least %d", ev, 2*attackers-size)
	}
}

// due forgets expired policies and old failures, keeps the rest, and names the
// policies to refresh.
func TestCacheDue(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	c := newCache(10)
	c.store("old.example", &Policy{Mode: ModeEnforce, MX: []string{"mx"}, MaxAge: time.Hour, Fetched: now.Add(-2 * time.Hour)})
	c.store("due.example", &Policy{Mode: ModeEnforce, MX: []string{"mx"}, MaxAge: time.Hour, Fetched: now.Add(-40 * time.Minute)})
	c.store("fresh.example", &Policy{Mode: ModeEnforce, MX: []string{"mx"}, MaxAge: time.Hour, Fetched: now})
	c.failed("failed.example", "1", now.Add(-time.Hour))
	c.failed("failing.example", "1", now)
	c.failed("fresh.example", "2", now) // a failed new id keeps the cached policy
	due := c.due(now, 5*time.Minute)
	if len(due) != 1 || due[0] != "due.example" {
		t.Errorf("due = %q, want [due.example]", due)
	}
	if c.len() != 3 || c.policy("fresh.example", now) == nil || !c.backingOff("failing.example", "1", now, time.Minute) {
		t.Errorf("%d entries left, want due, fresh and failing", c.len())
	}
}

// The cache hands out copies.
func TestCacheCopies(t *testing.T) {
	now := time.Now()
	c := newCache(10)
	p := &Policy{Mode: ModeEnforce, MX: []string{"mx.example"}, MaxAge: time.Hour, Fetched: now}
	c.store("a.example", p)
	p.MX[0] = "changed"
	got := c.policy("a.example", now)
	got.MX[0] = "changed too"
	if c.policy("a.example", now).MX[0] != "mx.example" {
		t.Error("cache shares its policy")
	}
}
