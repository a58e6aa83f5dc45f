package dkimkeys

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// benchDomains is the hosting scale of issue 17: 10,000 domains, each
// dual-signed (an rsa-2048 and an ed25519 key file).
const benchDomains = 10_000

func buildTable(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	for i := range n {
		d := fmt.Sprintf("customer%05d.example", i)
		writeKey(b, dir, d, "r2026", "rsa", i, time.Hour)
		writeKey(b, dir, d, "e2026", "ed25519", i, time.Hour)
	}
	return dir
}

// BenchmarkOpen10k is the start-up cost: reading and parsing 20,000 key
// files. heap-MB is what the table keeps in memory.
func BenchmarkOpen10k(b *testing.B) {
	dir := buildTable(b, benchDomains)
	var tb *Table
	var before, after runtime.MemStats
	for b.Loop() {
		tb = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		var err error
		if tb, err = Open(dir, nil); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MB")
	if s := tb.Stats(); s.Domains != benchDomains || s.Active != 2*benchDomains {
		b.Fatalf("stats %+v", s)
	}
}

// BenchmarkReloadUnchanged10k is a SIGHUP with nothing changed: stats,
// no parsing.
func BenchmarkReloadUnchanged10k(b *testing.B) {
	tb, err := Open(buildTable(b, benchDomains), nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := tb.Reload(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWatchPoll10k is what one poll of the watch costs.
func BenchmarkWatchPoll10k(b *testing.B) {
	dir := buildTable(b, benchDomains)
	for b.Loop() {
		fingerprint(dir, true)
	}
}

// BenchmarkKeys is the per-message cost: one map lookup, no allocation.
func BenchmarkKeys(b *testing.B) {
	tb, err := Open(buildTable(b, 1000), nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if len(tb.Keys("Customer00500.example")) != 2 {
			b.Fatal("no keys")
		}
	}
}

// BenchmarkWatchPollDirs10k is a poll that looks at the directories only.
func BenchmarkWatchPollDirs10k(b *testing.B) {
	dir := buildTable(b, benchDomains)
	for b.Loop() {
		fingerprint(dir, false)
	}
}
