package policyredis

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLookupOutage breaks the server in the ways it breaks in production,
// checks that Lookup fails in time rather than hang the milter, then repairs
// it and checks that lookups work again without a new Source.
func TestLookupOutage(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	const slack = 150 * time.Millisecond // scheduling, the race detector
	tests := []struct {
		name    string
		fail    func(*redisServer)
		repair  func(*redisServer)
		lookups int // while broken
	}{
		// Connections are refused: Lookup fails at once.
		{"killed and restarted", (*redisServer).Kill, (*redisServer).Restart, 3},
		// After many failed dials, go-redis stops dialing and returns the
		// last error until a probe, once a second, gets through: recovery
		// takes up to a second longer.
		{"killed for long and restarted", (*redisServer).Kill, (*redisServer).Restart, 200},
		// Connections hang: Lookup fails after Timeout.
		{"frozen and thawed", (*redisServer).Pause, (*redisServer).Resume, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startRedis(t)
			a := srv.Client()
			hset(t, a, DefaultKeyPrefix+"example.org", "require_tls", "yes")
			s := newSource(t, Options{Addresses: []string{srv.Addr()}, Timeout: timeout})
			ctx := context.Background()
			if r, err := s.Lookup(ctx, "bob@example.org"); err != nil || got(r) != "example.org" {
				t.Fatalf("before: Lookup = %s, %v", got(r), err)
			}

			tt.fail(srv)
			for i := range tt.lookups { // the pooled connection first, then new ones
				start := time.Now()
				r, err := s.Lookup(ctx, "bob@example.org")
				took := time.Since(start)
				if err == nil {
					t.Fatalf("broken, lookup %d: Lookup = %s, no error", i+1, got(r))
				}
				if took > timeout+slack {
					t.Errorf("broken, lookup %d: Lookup took %v to fail, Timeout is %v", i+1, took, timeout)
				}
				wantErr(t, err, `redis policy lookup for "bob@example.org" at `+srv.Addr())
				if i < 3 {
					t.Logf("lookup %d failed in %v: %v", i+1, took, err)
				}
			}
			// The caller's deadline counts when it is the shorter one.
			short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
			start := time.Now()
			_, err := s.Lookup(short, "bob@example.org")
			cancel()
			if err == nil || time.Since(start) > 30*time.Millisecond+slack {
				t.Errorf("broken, with a 30ms deadline: Lookup took %v, error %v", time.Since(start), err)
			}
			if err := s.Ping(ctx); err == nil {
				t.Errorf("broken: Ping succeeded")
			}

			tt.repair(srv)
			hset(t, a, DefaultKeyPrefix+"example.org", "require_tls", "yes") // a restarted server has lost it
			repaired := time.Now()
			deadline := repaired.Add(3 * time.Second)
			for {
				// Lookup and Ping use separate connection pools, which
				// recover each on its own.
				r, err := s.Lookup(ctx, "bob@example.org")
				perr := s.Ping(ctx)
				if err == nil && got(r) == "example.org" && perr == nil {
					t.Logf("works again %v after the repair", time.Since(repaired).Round(time.Millisecond))
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("repaired: after 3s, Lookup still = %s, %v; Ping: %v", got(r), err, perr)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestLookupAfterQuickRestart: a restart between two lookups leaves a dead
// connection in the pool; the next lookup must not fail because of it.
func TestLookupAfterQuickRestart(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	// The timeout is generous: what is tested is the retry past a dead
	// pooled connection, not speed (the default 200 ms failed on a loaded
	// CI machine while redis-server was still starting).
	s := newSource(t, Options{Addresses: []string{srv.Addr()}, Timeout: 3 * time.Second})
	ctx := context.Background()
	for i := range 3 {
		hset(t, srv.Client(), DefaultKeyPrefix+"example.org", "require_tls", "yes")
		if r, err := s.Lookup(ctx, "bob@example.org"); err != nil || got(r) != "example.org" {
			t.Fatalf("after %d restarts: Lookup = %s, %v", i, got(r), err)
		}
		srv.Restart()
	}
}

// TestLookupCancelled: a caller that has given up gets its error at once.
func TestLookupCancelled(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	s := newSource(t, Options{Addresses: []string{srv.Addr()}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Lookup(ctx, "bob@example.org")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Lookup with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestLookupAfterClose(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	s, err := New(Options{Addresses: []string{srv.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Lookup(context.Background(), "bob@example.org"); err == nil {
		t.Errorf("Lookup after Close: no error")
	}
}
