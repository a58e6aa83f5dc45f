//go:build race

package dmarcreport

// raceEnabled: the race detector slows JSON decoding tenfold and changes
// allocation, so heap measurements run without it.
const raceEnabled = true
