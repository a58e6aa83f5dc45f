//go:build !race

package postfix

const raceEnabled = false
