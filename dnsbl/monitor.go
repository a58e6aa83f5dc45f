package dnsbl

import (
	"context"
	"time"
)

const (
	// defaultHealthEvery is Monitor's interval when given none.
	defaultHealthEvery = time.Hour
	// minRetry keeps an unhealthy zone's re-checks from hammering a list
	// that may be rate-limiting us already.
	minRetry = 30 * time.Second
	// healthTimeout bounds one round of health checks.
	healthTimeout = 10 * time.Second
)

// Monitor runs the health checks at once and then until ctx ends: healthy
// zones every `every` (an hour when every <= 0), other zones sooner, every
// every/5 but at least 30 s apart, so that a list that recovers is used
// again quickly. A zone that turns unhealthy on a real query is re-checked
// on the short interval too. Run one Monitor per Checker.
func (c *Checker) Monitor(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = defaultHealthEvery
	}
	retry := retryInterval(every)
	last := make([]time.Time, len(c.zones)) // zero: due at once
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		c.checkDue(ctx, last, every, retry)
		timer.Reset(time.Until(c.nextDue(last, every, retry)))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-c.wake:
		}
	}
}

// retryInterval is the re-check interval for zones that are not healthy.
func retryInterval(every time.Duration) time.Duration {
	return min(max(every/5, minRetry), every)
}

// checkDue checks the zones whose time has come and stamps them with the
// round's start, so that the schedule does not drift by the check time.
func (c *Checker) checkDue(ctx context.Context, last []time.Time, every, retry time.Duration) {
	now := time.Now()
	var due []*zone
	var idx []int
	for i, z := range c.zones {
		if !now.Before(last[i].Add(interval(z, every, retry))) {
			due, idx = append(due, z), append(idx, i)
		}
	}
	if len(due) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, min(healthTimeout, retry))
	defer cancel()
	c.checkZones(rctx, due)
	for _, i := range idx {
		last[i] = now
	}
}

// nextDue is when the earliest zone is due again.
func (c *Checker) nextDue(last []time.Time, every, retry time.Duration) time.Time {
	var next time.Time
	for i, z := range c.zones {
		t := last[i].Add(interval(z, every, retry))
		if i == 0 || t.Before(next) {
			next = t
		}
	}
	return next
}

func interval(z *zone, every, retry time.Duration) time.Duration {
	if z.health.skipReason() == nil {
		return every
	}
	return retry
}
