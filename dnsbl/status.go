package dnsbl

import "fmt"

// Status is the outcome of one zone's lookup.
type Status int

// The zero Status is deliberately not a valid outcome, so that a
// forgotten assignment can never read as Listed.
const (
	// Listed: the zone answered with an accepted code; its weight counts.
	Listed Status = iota + 1
	// NotListed: NXDOMAIN or no A record.
	NotListed
	// Blocked: an answer in 127.255.255.0/24 or outside 127.0.0.0/8. The
	// list refused to answer us (or something rewrote the answer); it is
	// never a listing, and the zone is marked unhealthy.
	Blocked
	// Filtered: an answer in 127.0.0.0/8 that is not an accepted code.
	Filtered
	// Error: the lookup failed or missed the deadline; the check fails open.
	Error
	// Skipped: the zone was not queried because its health is bad or not
	// yet known.
	Skipped
)

var statusNames = [...]string{
	Listed:    "listed",
	NotListed: "not_listed",
	Blocked:   "blocked",
	Filtered:  "filtered",
	Error:     "error",
	Skipped:   "skipped",
}

// String is a single lower-case token, usable as a log value or metric label.
func (s Status) String() string {
	if s <= 0 || int(s) >= len(statusNames) {
		return "unknown"
	}
	return statusNames[s]
}

// MarshalText makes JSON logs show the name rather than the number.
func (s Status) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}

// UnmarshalText reads what MarshalText wrote (explain's JSON is read back
// by tools and tests).
func (s *Status) UnmarshalText(b []byte) error {
	for i, name := range statusNames {
		if i > 0 && name == string(b) {
			*s = Status(i)
			return nil
		}
	}
	return fmt.Errorf("dnsbl: unknown status %q", b)
}
