package greylist

import "time"

// Defaults of Params, those of postgrey where it has one.
const (
	DefaultDelay       = 5 * time.Minute
	DefaultRetryWindow = 48 * time.Hour
	DefaultPassTTL     = 35 * 24 * time.Hour
	DefaultAWLCount    = 5
	DefaultAWLTTL      = 35 * 24 * time.Hour
	DefaultIPv4Bits    = 24
	DefaultIPv6Bits    = 64
)

// Params are the greylisting policy. The stores keep times in
// milliseconds, so durations are used at that precision.
type Params struct {
	Delay       time.Duration // a retry earlier than this is deferred again
	RetryWindow time.Duration // first-seen entries expire after this
	PassTTL     time.Duration // passed entries expire after this, renewed on each use
	AWLCount    int           // client keys that passed this many triplets skip greylisting
	AWLTTL      time.Duration // the auto-whitelist counter expires after this, renewed on each use
	IPv4Bits    int           // the client network of a triplet
	IPv6Bits    int
}

// WithDefaults fills in the zero (or out of range) fields.
func (p Params) WithDefaults() Params {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&p.Delay, DefaultDelay)
	def(&p.RetryWindow, DefaultRetryWindow)
	def(&p.PassTTL, DefaultPassTTL)
	def(&p.AWLTTL, DefaultAWLTTL)
	if p.AWLCount <= 0 {
		p.AWLCount = DefaultAWLCount
	}
	if p.IPv4Bits <= 0 || p.IPv4Bits > 32 {
		p.IPv4Bits = DefaultIPv4Bits
	}
	if p.IPv6Bits <= 0 || p.IPv6Bits > 128 {
		p.IPv6Bits = DefaultIPv6Bits
	}
	return p
}

// millis is d in whole milliseconds, at least 1: a zero TTL would make
// Redis refuse PEXPIRE, and the stores count in milliseconds.
func millis(d time.Duration) int64 {
	return max(d.Milliseconds(), 1)
}

// decide is the store's decision for an entry as Status shows it, made
// without writing: what a Check at now would answer.
func (p Params) decide(e Entry, now time.Time) Decision {
	switch {
	case p.AWLCount > 0 && e.AWLCount >= p.AWLCount && now.Before(e.AWLExpires):
		return Decision{Allowed: true, Reason: ReasonAWL}
	case e.FirstSeen.IsZero() || (!e.Expires.IsZero() && !now.Before(e.Expires)):
		return Decision{Wait: p.Delay, Reason: ReasonNew}
	case !e.PassedAt.IsZero():
		return Decision{Allowed: true, Reason: ReasonPass}
	case now.Sub(e.FirstSeen) < p.Delay:
		return Decision{Wait: p.Delay - now.Sub(e.FirstSeen), Reason: ReasonEarly}
	}
	return Decision{Allowed: true, Reason: ReasonPass}
}
