package policyredis

import (
	"context"
	"testing"
)

// BenchmarkLookup measures a Lookup against a local redis-server, so mostly
// the client's cost and one loopback round trip: the recipient has 8 keys
// and the rule is at the domain, the common case of a panel's rules.
func BenchmarkLookup(b *testing.B) {
	srv := startRedis(b)
	hset(b, srv.Client(), DefaultKeyPrefix+"a.b.sub.example.org", "require_tls", "yes", "min_tls_version", "TLSv1.2")
	s := newSource(b, Options{Addresses: []string{srv.Addr()}})
	ctx := context.Background()
	const rcpt = "bob+lists@a.b.sub.example.org"
	lookup := func(b *testing.B) {
		if r, err := s.Lookup(ctx, rcpt); err != nil || got(r) != "a.b.sub.example.org" {
			b.Errorf("Lookup = %s, %v", got(r), err) // not Fatal: RunParallel's goroutines call it too
		}
	}

	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			lookup(b)
		}
	})
	// Many milter sessions at once, as under load: pipelines from several
	// goroutines share the connection pool.
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				lookup(b)
			}
		})
	})
}
