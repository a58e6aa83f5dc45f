package greylist

import (
	"context"
	"time"
)

// Check decides as the Redis script does; see redisCheckScript.
func (m *Memory) Check(ctx context.Context, k Key, p Params) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, storeErr("check", err)
	}
	p = p.WithDefaults()
	now := m.nowMS()
	ck, tk := tripletKey(k)
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.liveAWL(ck, now)
	if a != nil && a.n >= p.AWLCount {
		a.exp = now + millis(p.AWLTTL)
		return Decision{Allowed: true, Reason: ReasonAWL}, nil
	}
	t := m.liveTriplet(tk, now)
	if t == nil {
		m.addTriplet(tk, &memTriplet{first: now, exp: now + millis(p.RetryWindow)})
		return Decision{Wait: time.Duration(millis(p.Delay)) * time.Millisecond, Reason: ReasonNew}, nil
	}
	if t.pass == 0 {
		age := max(now-t.first, 0)
		if age < millis(p.Delay) {
			return Decision{Wait: time.Duration(millis(p.Delay)-age) * time.Millisecond, Reason: ReasonEarly}, nil
		}
		t.pass = now
		m.countPass(ck, a, now, p)
	}
	t.exp = now + millis(p.PassTTL)
	m.st.lru.MoveToBack(t.elem)
	return Decision{Allowed: true, Reason: ReasonPass}, nil
}

// countPass counts a passed triplet for the client key; m.mu is held.
func (m *Memory) countPass(ck string, a *memAWL, now int64, p Params) {
	if a == nil {
		a = &memAWL{}
		m.st.awl[ck] = a
	}
	a.n++
	a.exp = now + millis(p.AWLTTL)
}

// Status reports the triplet and its client key.
func (m *Memory) Status(ctx context.Context, k Key) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, storeErr("status", err)
	}
	now := m.nowMS()
	ck, tk := tripletKey(k)
	m.mu.Lock()
	defer m.mu.Unlock()
	var e Entry
	if t := m.liveTriplet(tk, now); t != nil {
		e.FirstSeen, e.PassedAt, e.Expires = msTime(t.first), msTime(t.pass), msTime(t.exp)
	}
	if a := m.liveAWL(ck, now); a != nil {
		e.AWLCount, e.AWLExpires = a.n, msTime(a.exp)
	}
	return e, nil
}

// Release marks the triplet passed now, without counting a pass for the
// auto-whitelist: that counts retries of real MTAs.
func (m *Memory) Release(ctx context.Context, k Key, p Params) error {
	if err := ctx.Err(); err != nil {
		return storeErr("release", err)
	}
	p = p.WithDefaults()
	now := m.nowMS()
	_, tk := tripletKey(k)
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.liveTriplet(tk, now)
	if t == nil {
		t = &memTriplet{first: now}
	}
	if t.pass == 0 {
		t.pass = now
	}
	t.exp = now + millis(p.PassTTL)
	m.addTriplet(tk, t)
	return nil
}

// msTime is a Unix millisecond time, zero for 0.
func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
