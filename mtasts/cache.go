package mtasts

import (
	"container/list"
	"sync"
	"sync/atomic"
	"time"
)

// entry is what the cache knows about one domain. Entries are never changed once
// stored, only replaced.
type entry struct {
	policy   *Policy   // the last policy fetched; nil if none was
	failedID string    // TXT id of the last failed fetch, "" if none
	failedAt time.Time // when it failed
}

// cache holds policies by domain, at most size domains, in a segmented LRU: a new
// domain enters the probation segment; a domain read again moves to the protected
// segment (at most protectedShare of the cache); the least recently used domain of
// probation is the one evicted, and the protected one least recently used drops back
// to probation when protected is full.
//
// The cache used to evict the policy that expires first, so attacker policies with a
// one-year max_age pushed out every legitimate one. Losing a policy is what an attacker
// wants: MTA-STS is trust on first use, and the next fetch may be the one he tampers
// with. Here a flood of domains looked up once (a local user asking the socketmap for
// 1,000 attacker domains) only cycles through probation: policies that mail goes to
// again stay, however many one-shot domains come. otter's W-TinyLFU (dnsx's cache)
// would resist the flood too, but its admission is approximate: in a test it evicted a
// domain read every ten insertions after 261 of them, which a plain LRU of that size
// keeps.
//
// Expiry is checked against Options.Now at every read; due (Refresh) drops what has
// expired.
type cache struct {
	mu                  sync.Mutex
	size, protectedSize int
	items               map[string]*list.Element // of *item
	probation           list.List                // front: most recently used
	protected           list.List
	evicted             atomic.Int64 // entries pushed out by the size bound
}

// protectedShare is the part of the cache domains read more than once may fill.
const protectedShare = 0.8

type item struct {
	domain    string
	e         *entry
	protected bool
}

func newCache(size int) *cache {
	c := &cache{size: max(size, 1), items: map[string]*list.Element{}}
	c.protectedSize = max(int(float64(c.size)*protectedShare), 1)
	return c
}

// policy returns the domain's policy if it is still in force at now. A read counts as
// a use of the domain.
func (c *cache) policy(domain string, now time.Time) *Policy {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.items[domain]
	if el == nil {
		return nil
	}
	c.touch(el)
	e := el.Value.(*item).e
	if e.policy == nil || e.policy.Expired(now) {
		return nil
	}
	return e.policy.clone()
}

// touch moves a domain that was read to the front of protected. c.mu is held.
func (c *cache) touch(el *list.Element) {
	it := el.Value.(*item)
	if it.protected {
		c.protected.MoveToFront(el)
		return
	}
	c.probation.Remove(el)
	it.protected = true
	c.items[it.domain] = c.protected.PushFront(it)
	if c.protected.Len() > c.protectedSize {
		last := c.protected.Back()
		old := c.protected.Remove(last).(*item)
		old.protected = false
		c.items[old.domain] = c.probation.PushFront(old)
	}
}

// store records a freshly fetched policy; it clears a failure.
func (c *cache) store(domain string, p *Policy) {
	c.set(domain, func(*entry) *entry { return &entry{policy: p.clone()} })
}

// failed records a failed fetch of the policy with that id; a cached policy stays.
func (c *cache) failed(domain, id string, now time.Time) {
	c.set(domain, func(old *entry) *entry {
		return &entry{policy: old.policy, failedID: id, failedAt: now}
	})
}

// set replaces the domain's entry with f(old) (old is empty for a new domain), which
// is not a use: a new domain enters probation, evicting one if the cache is full.
func (c *cache) set(domain string, f func(old *entry) *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.items[domain]; el != nil {
		it := el.Value.(*item)
		it.e = f(it.e)
		return
	}
	if len(c.items) >= c.size {
		c.evictOne()
	}
	c.items[domain] = c.probation.PushFront(&item{domain: domain, e: f(&entry{})})
}

// evictOne drops the least recently used domain of probation (of protected if
// probation is empty). c.mu is held.
func (c *cache) evictOne() {
	l := &c.probation
	if l.Len() == 0 {
		l = &c.protected
	}
	if last := l.Back(); last != nil {
		delete(c.items, l.Remove(last).(*item).domain)
		c.evicted.Add(1)
	}
}

// backingOff reports whether the policy with that id failed to fetch less than d ago.
func (c *cache) backingOff(domain, id string, now time.Time, d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.items[domain]
	if el == nil {
		return false
	}
	e := el.Value.(*item).e
	return e.failedID == id && now.Sub(e.failedAt) < d
}

// due returns the domains whose policy should be refreshed at now: fetched at least
// refreshAge ago. It forgets expired policies and failures older than backoff.
func (c *cache) due(now time.Time, backoff time.Duration) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var domains []string
	for d, el := range c.items {
		switch e := el.Value.(*item).e; {
		case e.policy == nil:
			if now.Sub(e.failedAt) >= backoff {
				c.remove(d, el)
			}
		case e.policy.Expired(now):
			c.remove(d, el)
		case now.Sub(e.policy.Fetched) >= refreshAge(e.policy.MaxAge):
			domains = append(domains, d)
		}
	}
	return domains
}

// remove deletes a domain. c.mu is held.
func (c *cache) remove(domain string, el *list.Element) {
	if el.Value.(*item).protected {
		c.protected.Remove(el)
	} else {
		c.probation.Remove(el)
	}
	delete(c.items, domain)
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
	return len(c.items)
}
