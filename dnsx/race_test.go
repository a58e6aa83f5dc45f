//go:build race

package dnsx_test

// raceEnabled: the race detector slows the byte loops of 60 KB answers
// tenfold, so the heap tests use fewer names (and a smaller budget).
const raceEnabled = true
