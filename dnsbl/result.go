package dnsbl

import (
	"cmp"
	"net/netip"
	"slices"
)

// ZoneResult is one zone's outcome for one client.
type ZoneResult struct {
	Zone   string
	Weight float64 // the zone's configured weight, counted only when Listed
	Status Status
	// Answers are the A records returned, for Listed, Blocked and Filtered.
	Answers []netip.Addr
	// Err says why, for Error (the DNS failure) and Skipped (ErrHealthUnknown
	// or an error wrapping ErrUnhealthy with the failed test).
	Err error
}

// Result is the outcome of Checker.Check.
type Result struct {
	// Score is the summed weight of the Listed zones.
	Score float64
	// Zones holds every configured zone, in configuration order.
	Zones []ZoneResult
}

// Listed returns the listed zones, highest weight first (configuration order
// among equals), so that the first one names the zone in the reject reply.
func (r Result) Listed() []ZoneResult {
	var listed []ZoneResult
	for _, z := range r.Zones {
		if z.Status == Listed {
			listed = append(listed, z)
		}
	}
	slices.SortStableFunc(listed, func(a, b ZoneResult) int {
		return cmp.Compare(b.Weight, a.Weight)
	})
	return listed
}
