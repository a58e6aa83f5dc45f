package greylist

import (
	"errors"
	"testing"
	"time"
)

// TestBreaker walks the breaker through its states on a test clock: it
// opens after Failures consecutive failures, refuses calls for OpenFor,
// then lets exactly one trial through (half-open), whose outcome closes
// or reopens it.
func TestBreaker(t *testing.T) {
	down := errors.New("connection refused")
	type step struct {
		advance   time.Duration // clock moves first
		wantAllow bool
		outcome   error // when allowed: the call's result
		gaveUp    bool  // the caller's context ended
		want      breakerChange
	}
	tests := []struct {
		name  string
		o     BreakerOptions
		steps []step
	}{
		{"opens after Failures, trial after OpenFor closes it", BreakerOptions{Failures: 3, OpenFor: time.Second}, []step{
			{0, true, down, false, breakerSame},
			{0, true, down, false, breakerSame},
			{0, true, down, false, breakerOpened},
			{999 * time.Millisecond, false, nil, false, breakerSame},
			{time.Millisecond, true, nil, false, breakerClosed},
			{0, true, nil, false, breakerSame},
		}},
		{"a failed trial reopens it for another OpenFor", BreakerOptions{Failures: 1, OpenFor: time.Second}, []step{
			{0, true, down, false, breakerOpened},
			{time.Second, true, down, false, breakerSame},
			{500 * time.Millisecond, false, nil, false, breakerSame},
			{500 * time.Millisecond, true, nil, false, breakerClosed},
		}},
		{"a success resets the count", BreakerOptions{Failures: 2, OpenFor: time.Second}, []step{
			{0, true, down, false, breakerSame},
			{0, true, nil, false, breakerSame},
			{0, true, down, false, breakerSame},
			{0, true, down, false, breakerOpened},
		}},
		{"calls the caller gave up on count as neither", BreakerOptions{Failures: 1, OpenFor: time.Second}, []step{
			{0, true, down, true, breakerSame},
			{0, true, down, false, breakerOpened},
			{time.Second, true, down, true, breakerSame}, // the trial's caller left: still open, next call is the trial
			{0, true, nil, false, breakerClosed},
		}},
		{"defaults: 5 failures, 2 s", BreakerOptions{}, []step{
			{0, true, down, false, breakerSame},
			{0, true, down, false, breakerSame},
			{0, true, down, false, breakerSame},
			{0, true, down, false, breakerSame},
			{0, true, down, false, breakerOpened},
			{1999 * time.Millisecond, false, nil, false, breakerSame},
			{time.Millisecond, true, nil, false, breakerClosed},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Unix(1_700_000_000, 0)
			b := newBreaker(tt.o, func() time.Time { return now })
			for i, s := range tt.steps {
				now = now.Add(s.advance)
				ok, err := b.allow()
				if ok != s.wantAllow {
					t.Fatalf("step %d: allow = %v (%v), want %v", i, ok, err, s.wantAllow)
				}
				if !ok {
					if !errors.Is(err, ErrUnavailable) {
						t.Fatalf("step %d: refused with %v, want ErrUnavailable", i, err)
					}
					continue
				}
				if got := b.done(s.outcome, s.gaveUp); got != s.want {
					t.Fatalf("step %d: done = %v, want %v", i, got, s.want)
				}
			}
		})
	}
}

// While a trial call is under way, every other call is refused: a dead
// store costs one timeout per OpenFor, not one per concurrent session.
func TestBreakerOneTrialAtATime(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	b := newBreaker(BreakerOptions{Failures: 1, OpenFor: time.Second}, func() time.Time { return now })
	if ok, _ := b.allow(); !ok {
		t.Fatal("closed breaker refused")
	}
	b.done(errors.New("down"), false)
	now = now.Add(time.Second)
	if ok, _ := b.allow(); !ok {
		t.Fatal("no trial after OpenFor")
	}
	for i := range 10 {
		if ok, _ := b.allow(); ok {
			t.Fatalf("call %d allowed during the trial", i)
		}
	}
	if b.done(nil, false) != breakerClosed || b.openings() != 1 {
		t.Errorf("trial success: openings %d", b.openings())
	}
}
