//go:build !race

package dmarcreport

const raceEnabled = false
