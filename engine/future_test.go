package engine

import (
	"context"
	"fmt"
	"testing"

	"spamgate/dnsx/dnstest"
)

// A lookup the DNS cache can answer is done when lookup returns (no
// goroutine); one it cannot runs in a goroutine, with no extra query for
// the cache-only attempt, and gives the same answer.
func TestLookupRunsInlineWhenCached(t *testing.T) {
	z := dnstest.NewZone()
	if err := z.AddText("host.example. 300 IN A 192.0.2.1\nhost.example. 300 IN AAAA 2001:db8::1"); err != nil {
		t.Fatal(err)
	}
	srv := dnstest.Start(t, z)
	s, _ := newTestSession(t, fmt.Sprintf("[dns]\nnameservers = [%q]\n[dnsbl]\nenabled = false\n", srv.Addr))
	resolve := func(ctx context.Context) int {
		addrs, err := s.e.resolver.LookupIP(ctx, "ip", "host.example")
		if err != nil {
			return -1
		}
		return len(addrs)
	}

	cold := lookup(s, s.ctx, "test", resolve)
	got, ok := cold.wait(s.ctx)
	if !ok || got != 2 {
		t.Fatalf("cold lookup: %d addresses, ok %v", got, ok)
	}
	if q := srv.Queries(); q != 2 {
		t.Errorf("cold lookup sent %d queries, want 2 (A and AAAA)", q)
	}

	warm := lookup(s, s.ctx, "test", resolve)
	select {
	case <-warm.done:
	default:
		t.Fatal("a lookup the cache answers was not done when lookup returned")
	}
	if warm.val != 2 || srv.Queries() != 2 {
		t.Errorf("warm lookup: %d addresses, %d queries in all", warm.val, srv.Queries())
	}
}
