package mtasts

import (
	"sync"
	"time"
)

// entry is what the cache knows about one domain.
type entry struct {
	policy   *Policy   // the last policy fetched; nil if none was
	failedID string    // TXT id of the last failed fetch, "" if none
	failedAt time.Time // when it failed
}

// cache holds policies by domain, at most size domains. Policies in it are never
// changed, only replaced; callers get clones.
type cache struct {
	mu      sync.Mutex
	size    int
	entries map[string]*entry
}

func newCache(size int) *cache {
	return &cache{size: size, entries: map[string]*entry{}}
}

// policy returns the domain's policy if it is still in force at now.
func (c *cache) policy(domain string, now time.Time) *Policy {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[domain]
	if e == nil || e.policy == nil || e.policy.Expired(now) {
		return nil
	}
	return e.policy.clone()
}

// store records a freshly fetched policy; it clears a failure.
func (c *cache) store(domain string, p *Policy, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(domain, now)
	e.policy, e.failedID = p.clone(), ""
}

// failed records a failed fetch of the policy with that id.
func (c *cache) failed(domain, id string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(domain, now)
	e.failedID, e.failedAt = id, now
}

// backingOff reports whether the policy with that id failed to fetch less than d ago.
func (c *cache) backingOff(domain, id string, now time.Time, d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[domain]
	return e != nil && e.failedID == id && now.Sub(e.failedAt) < d
}

// entry returns the domain's entry, making room for a new one. c.mu is held.
func (c *cache) entry(domain string, now time.Time) *entry {
	if e := c.entries[domain]; e != nil {
		return e
	}
	if len(c.entries) >= c.size {
		c.evict(now)
	}
	e := &entry{}
	c.entries[domain] = e
	return e
}

// evict drops the entries without a policy in force and, if that is not enough, the
// one whose policy expires first. c.mu is held.
func (c *cache) evict(now time.Time) {
	for d, e := range c.entries {
		if e.policy == nil || e.policy.Expired(now) {
			delete(c.entries, d)
		}
	}
	if len(c.entries) < c.size {
		return
	}
	victim, first := "", time.Time{}
	for d, e := range c.entries {
		if exp := e.policy.Expires(); victim == "" || exp.Before(first) {
			victim, first = d, exp
		}
	}
	delete(c.entries, victim)
}

// due returns the domains whose policy should be refreshed at now: fetched at least
// refreshAge ago. It forgets expired policies and failures older than backoff.
func (c *cache) due(now time.Time, backoff time.Duration) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var domains []string
	for d, e := range c.entries {
		switch {
		case e.policy == nil:
			if now.Sub(e.failedAt) >= backoff {
				delete(c.entries, d)
			}
		case e.policy.Expired(now):
			delete(c.entries, d)
		case now.Sub(e.policy.Fetched) >= refreshAge(e.policy.MaxAge):
			domains = append(domains, d)
		}
	}
	return domains
}

// refreshAge is the age at which a policy is refreshed: a day (RFC 8461 3.3), or half
// its max_age if that is shorter, so that it is refreshed well before it expires.
func refreshAge(maxAge time.Duration) time.Duration {
	return min(RefreshInterval, maxAge/2)
}

// len returns the number of domains cached.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
