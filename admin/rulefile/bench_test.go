package rulefile

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkStoreLookup is what the admin source adds to each RCPT: an
// atomic load and the policy package's lookup (n rules).
func BenchmarkStoreLookup(b *testing.B) {
	for _, n := range []int{0, 100} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "rules.toml"))
			if err != nil {
				b.Fatal(err)
			}
			entries := make([]Entry, n)
			for i := range entries {
				r, err := ParseKeys(map[string]any{"recipient": fmt.Sprintf("user%d@corp.test", i), "require_tls": true})
				if err != nil {
					b.Fatal(err)
				}
				entries[i] = Entry{ID: fmt.Sprint(i), At: time.Now(), Rule: r}
			}
			if err := s.commit(entries); err != nil {
				b.Fatal(err)
			}
			client := netip.MustParseAddr("192.0.2.1")
			b.ReportAllocs()
			for b.Loop() {
				_ = s.Lookup("carol+x@sub.corp.test", "news@sender.test", client)
			}
		})
	}
	b.Run("nil", func(b *testing.B) {
		var s *Store
		b.ReportAllocs()
		for b.Loop() {
			_ = s.Lookup("carol+x@sub.corp.test", "news@sender.test", netip.Addr{})
		}
	})
}
