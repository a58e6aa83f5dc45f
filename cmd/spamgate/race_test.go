//go:build race

package main

// raceEnabled: bcrypt at cost 12 takes seconds under the race detector.
const raceEnabled = true
