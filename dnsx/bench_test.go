package dnsx_test

import (
	"context"
	"testing"

	"spamgate/dnsx"
)

// BenchmarkLookupTXTCached measures the hot path: a cache hit, as when
// several checks of one message ask for the same record.
func BenchmarkLookupTXTCached(b *testing.B) {
	s, _ := start(b, testZone)
	r := newResolver(b, dnsx.Config{}, s.Addr)
	ctx := context.Background()
	if _, err := r.LookupTXT(ctx, "example.test"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.LookupTXT(ctx, "example.test"); err != nil {
				b.Fatal(err)
			}
		}
	})
	if st := r.Stats(); st.Queries != 1 {
		b.Fatalf("stats %+v: the benchmark left the cache", st)
	}
}

// BenchmarkLookupTXTUncached measures the query path (no cache: every
// lookup is a UDP exchange with the loopback server), where the in-flight
// limits take their slots.
func BenchmarkLookupTXTUncached(b *testing.B) {
	s, _ := start(b, testZone)
	r := newResolver(b, dnsx.Config{CacheSize: -1}, s.Addr)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.LookupTXT(ctx, "example.test"); err != nil {
			b.Fatal(err)
		}
	}
}
