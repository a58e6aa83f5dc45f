package mtasts

import (
	"testing"
	"time"
)

// A full cache drops entries without a policy in force first, then the policy that
// expires first.
func TestCacheEviction(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	pol := func(maxAge time.Duration) *Policy {
		return &Policy{Mode: ModeEnforce, MX: []string{"mx.example"}, MaxAge: maxAge, Fetched: now}
	}
	c := newCache(3)
	c.store("a.example", pol(time.Hour), now)
	c.store("b.example", pol(time.Minute), now)
	c.failed("c.example", "1", now)
	c.store("d.example", pol(time.Hour), now) // evicts c (no policy)
	if c.len() != 3 || c.backingOff("c.example", "1", now, time.Hour) {
		t.Fatalf("c.example not evicted (%d entries)", c.len())
	}
	c.store("e.example", pol(time.Hour), now) // evicts b (expires first)
	for d, want := range map[string]bool{"a.example": true, "b.example": false, "d.example": true, "e.example": true} {
		if got := c.policy(d, now) != nil; got != want {
			t.Errorf("%s cached: %v, want %v", d, got, want)
		}
	}
	c.store("f.example", pol(time.Hour), now.Add(2*time.Hour)) // all expired: all go
	if c.len() != 1 {
		t.Errorf("%d entries, want 1", c.len())
	}
}

// The cache hands out copies.
func TestCacheCopies(t *testing.T) {
	now := time.Now()
	c := newCache(10)
	p := &Policy{Mode: ModeEnforce, MX: []string{"mx.example"}, MaxAge: time.Hour, Fetched: now}
	c.store("a.example", p, now)
	p.MX[0] = "changed"
	got := c.policy("a.example", now)
	got.MX[0] = "changed too"
	if c.policy("a.example", now).MX[0] != "mx.example" {
		t.Error("cache shares its policy")
	}
}
