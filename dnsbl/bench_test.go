package dnsbl

import (
	"log/slog"
	"net/netip"
	"testing"
)

// BenchmarkCheck runs the per-connection path: three zones, one listing the
// client. The fake answers from memory, so this measures the checker's own
// cost (goroutines, names, classification), not DNS.
func BenchmarkCheck(b *testing.B) {
	for _, ip := range []string{client4, client6} {
		b.Run(ip, func(b *testing.B) {
			f := newFake()
			c := newChecker(b, f, slog.New(slog.DiscardHandler),
				ZoneConfig{Name: "zen.example", Weight: 2, Codes: []string{"127.0.0.2-127.0.0.11"}},
				ZoneConfig{Name: "bl.example", Weight: 1},
				ZoneConfig{Name: "info.example", Weight: 0})
			addr := netip.MustParseAddr(ip)
			f.answer(QueryName(addr, "bl.example"), "127.0.0.2")
			f.calls = nil // counting would take the fake's lock path through a map write
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if r := c.Check(ctx, addr); r.Score != 1 {
					b.Fatalf("score %v", r.Score)
				}
			}
		})
	}
}

func BenchmarkQueryName(b *testing.B) {
	addr := netip.MustParseAddr(client6)
	b.ReportAllocs()
	for b.Loop() {
		_ = QueryName(addr, "zen.example")
	}
}
