package greylist

import (
	"context"
	"math"
	"time"
)

// Check decides as the Redis script does; see redisCheckScript.
func (m *Memory) Check(ctx context.Context, k Key, p Params) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, storeErr("check", err)
	}
	p = p.WithDefaults()
	now := m.nowMS()
	ck, tk := memKeys(k)
	m.lockForCheck()
	defer m.mu.Unlock()
	a := m.liveAWL(ck, now)
	if a != noSlot && int(m.st.awl.at(a).val.n) >= p.AWLCount {
		m.putAWL(ck, awlVal{n: m.st.awl.at(a).val.n, exp: now + millis(p.AWLTTL)})
		return Decision{Allowed: true, Reason: ReasonAWL}, nil
	}
	i := m.liveTriplet(tk, now)
	if i == noSlot {
		m.putTriplet(tk, tripletVal{first: now, exp: now + millis(p.RetryWindow)})
		return Decision{Wait: time.Duration(millis(p.Delay)) * time.Millisecond, Reason: ReasonNew}, nil
	}
	t := m.st.trip.at(i).val
	if t.pass == 0 {
		age := max(now-t.first, 0)
		if age < millis(p.Delay) {
			return Decision{Wait: time.Duration(millis(p.Delay)-age) * time.Millisecond, Reason: ReasonEarly}, nil
		}
		t.pass = now
		m.countPass(ck, a, now, p)
	}
	t.exp = now + millis(p.PassTTL)
	m.setTriplet(i, t) // onto the passed list, as its most recent use
	return Decision{Allowed: true, Reason: ReasonPass}, nil
}

// countPass counts a passed triplet for the client key whose counter is
// in slot a (noSlot: none live); m.mu is held.
func (m *Memory) countPass(ck memKey, a int32, now int64, p Params) {
	var v awlVal
	if a != noSlot {
		v = m.st.awl.at(a).val
	}
	if v.n < math.MaxInt32 {
		v.n++
	}
	v.exp = now + millis(p.AWLTTL)
	m.putAWL(ck, v)
}

// Status reports the triplet and its client key.
func (m *Memory) Status(ctx context.Context, k Key) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, storeErr("status", err)
	}
	now := m.nowMS()
	ck, tk := memKeys(k)
	m.lockForCheck()
	defer m.mu.Unlock()
	var e Entry
	if i := m.liveTriplet(tk, now); i != noSlot {
		t := m.st.trip.at(i).val
		e.FirstSeen, e.PassedAt, e.Expires = msTime(t.first), msTime(t.pass), msTime(t.exp)
	}
	if a := m.liveAWL(ck, now); a != noSlot {
		v := m.st.awl.at(a).val
		e.AWLCount, e.AWLExpires = int(v.n), msTime(v.exp)
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
	_, tk := memKeys(k)
	m.lockForCheck()
	defer m.mu.Unlock()
	t := tripletVal{first: now}
	if i := m.liveTriplet(tk, now); i != noSlot {
		t = m.st.trip.at(i).val
	}
	if t.pass == 0 {
		t.pass = now
	}
	t.exp = now + millis(p.PassTTL)
	m.putTriplet(tk, t)
	return nil
}

// msTime is a Unix millisecond time, zero for 0.
func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
