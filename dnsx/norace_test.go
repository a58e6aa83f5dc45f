//go:build !race

package dnsx_test

const raceEnabled = false
