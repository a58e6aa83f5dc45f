package history

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkScanFull is a console query over a full default-size store
// (64 MiB, ~130,000 transactions): Stats and Rollout read every record,
// a Query by recipient uses the line prefilter.
func BenchmarkScanFull(b *testing.B) {
	clk := newClock()
	s, err := OpenFile(FileOptions{Dir: b.TempDir(), Days: 14, MaxBytes: 64 << 20, Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for i := range 130000 {
		r := rec(clk.Now().Add(-time.Duration(i)*time.Second), fmt.Sprintf("192.0.2.%d", i%250), fmt.Sprintf("user%d@sender%d.example", i, i%500), "TLSv1.3",
			accepted(fmt.Sprintf("rcpt%d@customer%d.example", i, i%1000)))
		r.ClientName, r.SPF, r.DKIM, r.DMARC = "mail.sender.example", "pass", "pass", "pass"
		s.Add(r)
		if i%2000 == 0 {
			s.Sync()
		}
	}
	s.Sync()
	b.Logf("store: %d bytes, %d segments", s.Counters().SizeBytes, s.Counters().SegmentsKept)
	b.Run("stats", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Stats(b.Context(), time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rollout", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Rollout(b.Context(), "customer7.example", time.Time{}, "TLSv1.3"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("query-client-none", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Query(b.Context(), Filter{Client: "198.51.100.1"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("query-recipient", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Query(b.Context(), Filter{Recipient: "rcpt129999@"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
