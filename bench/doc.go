// Package bench holds spamgate's benchmarks (`make bench`). They are
// benchmarks, not timed tests: they print figures and assert nothing about
// time. docs/BENCHMARKS.md records the figures and the machine.
package bench
