package dnsx_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"spamgate/dnsx"
)

func TestPositiveCache(t *testing.T) {
	r, s, _ := setup(t)
	ctx := context.Background()
	// Spellings of one name share one entry.
	for _, name := range []string{"example.test", "EXAMPLE.test", "example.test.", "Example.Test."} {
		if _, err := r.LookupMX(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	// Another type is another entry.
	if _, err := r.LookupTXT(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
	if got := s.Queries(); got != 2 {
		t.Fatalf("server saw %d queries, want 2", got)
	}
	want := dnsx.Stats{Queries: 2, CacheHits: 3, CacheMisses: 2}
	if st := counts(r.Stats()); st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
}

func TestNegativeCache(t *testing.T) {
	r, s, _ := setup(t)
	ctx := context.Background()
	for range 3 {
		if _, err := r.LookupTXT(ctx, "nope.example.test"); !dnsx.IsNXDomain(err) {
			t.Fatalf("want NXDOMAIN, got %v", err)
		}
		if _, err := r.LookupTXT(ctx, "mx1.example.test"); !dnsx.IsNotFound(err) || dnsx.IsNXDomain(err) {
			t.Fatalf("want NODATA, got %v", err)
		}
	}
	if got := s.Queries(); got != 2 {
		t.Fatalf("server saw %d queries, want 2", got)
	}
}

// Answers that must not be cached are asked again every time.
func TestNotCached(t *testing.T) {
	addr := rawServer(t, func(q *dns.Msg) []byte {
		switch q.Question[0].Name {
		case "nosoa.test.": // NXDOMAIN without SOA: RFC 2308 says do not cache
			return packReply(t, q, dns.RcodeNameError, nil, nil)
		case "nodata.test.":
			return packReply(t, q, dns.RcodeSuccess, nil, nil)
		case "ttl0.test.":
			return packReply(t, q, dns.RcodeSuccess, []dns.RR{rr(t, "ttl0.test. 0 IN TXT x")}, nil)
		case "cname0.test.": // the chain's TTL bounds the answer's
			return packReply(t, q, dns.RcodeSuccess, []dns.RR{
				rr(t, "cname0.test. 0 IN CNAME t.test."), rr(t, "t.test. 60 IN TXT x")}, nil)
		default:
			return packReply(t, q, dns.RcodeServerFailure, nil, nil)
		}
	})
	for _, name := range []string{"nosoa.test", "nodata.test", "ttl0.test", "cname0.test", "servfail.test"} {
		t.Run(name, func(t *testing.T) {
			r := newResolver(t, dnsx.Config{Attempts: 1}, addr)
			for range 3 {
				_, _ = r.LookupTXT(context.Background(), name)
			}
			if st := r.Stats(); st.Queries != 3 || st.CacheHits != 0 {
				t.Fatalf("stats %+v: want 3 queries, no hit", st)
			}
		})
	}
}

// Entries expire with their TTL: positive, negative (SOA), and capped by
// MaxTTL. One second each, in parallel.
func TestCacheExpiry(t *testing.T) {
	const zone = "$ORIGIN example.test.\nshort 1 IN A 192.0.2.1\nlong 3600 IN A 192.0.2.2\n"
	tests := []struct {
		name   string
		host   string
		maxTTL time.Duration
	}{
		{"positive TTL", "short.example.test", 0},
		{"negative TTL", "nope.example.test", 0},
		{"MaxTTL", "long.example.test", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, z := start(t, zone)
			z.SetNegativeTTL(time.Second)
			r := newResolver(t, dnsx.Config{MaxTTL: tt.maxTTL}, s.Addr)
			lookup := func() { _, _ = r.LookupIP(context.Background(), "ip4", tt.host) }
			lookup()
			lookup()
			if got := s.Queries(); got != 1 {
				t.Fatalf("before expiry: %d queries, want 1", got)
			}
			time.Sleep(time.Second)
			// The cache may notice the expiry a little late on a loaded
			// machine; it must within a bound, and must not query twice.
			deadline := time.Now().Add(3 * time.Second)
			for s.Queries() < 2 && time.Now().Before(deadline) {
				lookup()
				time.Sleep(50 * time.Millisecond)
			}
			if got := s.Queries(); got != 2 {
				t.Fatalf("after expiry: %d queries, want 2", got)
			}
		})
	}
}

// Concurrent misses of one question make one query.
func TestCoalescing(t *testing.T) {
	r, s, _ := setup(t)
	s.SetDelay(100 * time.Millisecond)
	const callers = 50
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			if _, err := r.LookupTXT(context.Background(), "example.test"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.Queries(); got != 1 {
		t.Fatalf("%d callers made %d queries, want 1", callers, got)
	}
	if st := r.Stats(); st.CacheHits+st.CacheMisses != callers {
		t.Fatalf("stats %+v", st)
	}
}

// A caller that joins another's query is not failed by the other's
// deadline: it asks again within its own.
func TestCoalescedCallerOutlivesOwner(t *testing.T) {
	s, _ := start(t, testZone)
	r := newResolver(t, dnsx.Config{Timeout: time.Second}, s.Addr)
	s.SetDelay(200 * time.Millisecond)
	owner := make(chan error, 1)
	go func() {
		_, err := r.LookupTXT(ctxTimeout(t, 50*time.Millisecond), "example.test")
		owner <- err
	}()
	time.Sleep(10 * time.Millisecond) // let the owner start the query
	if _, err := r.LookupTXT(ctxTimeout(t, 2*time.Second), "example.test"); err != nil {
		t.Fatalf("joined caller: %v", err)
	}
	if err := <-owner; !dnsx.IsTemporary(err) || !dnsError(t, err).IsTimeout {
		t.Fatalf("owner: want a timeout, got %v", err)
	}
	if got := s.Queries(); got != 2 {
		t.Fatalf("%d queries, want 2", got)
	}
}

func TestNoCache(t *testing.T) {
	s, _ := start(t, testZone)
	r := newResolver(t, dnsx.Config{CacheSize: -1}, s.Addr)
	for range 3 {
		if _, err := r.LookupTXT(context.Background(), "example.test"); err != nil {
			t.Fatal(err)
		}
	}
	want := dnsx.Stats{Queries: 3}
	if st := r.Stats(); st != want || s.Queries() != 3 {
		t.Fatalf("stats %+v, server %d: want 3 queries, no cache counts", st, s.Queries())
	}
}

// counts keeps the counters of s that the cache tests compare, dropping the
// levels (cache bytes) that depend on the answers' sizes.
func counts(s dnsx.Stats) dnsx.Stats {
	return dnsx.Stats{Queries: s.Queries, CacheHits: s.CacheHits, CacheMisses: s.CacheMisses, Errors: s.Errors}
}
