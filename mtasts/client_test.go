package mtasts_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"spamgate/mtasts"
)

// An enforce policy is discovered, fetched from the right URL through the test DNS,
// mapped for Postfix, and then answered from the cache.
func TestEnforcePolicy(t *testing.T) {
	t.Parallel()
	r := newRig(t, enforcePolicy, nil)
	p := r.mustLookup(t, "1", mtasts.ModeEnforce)
	if !slices.Equal(p.MX, []string{"mx1.example.test", "*.mx.example.test"}) || p.MaxAge != 604800*time.Second {
		t.Errorf("policy %+v", p)
	}
	if !p.Fetched.Equal(r.clock.Now()) {
		t.Errorf("Fetched %v, want %v", p.Fetched, r.clock.Now())
	}
	want := "secure match=mx1.example.test:.mx.example.test servername=hostname"
	if got := p.PostfixPolicy(); got != want {
		t.Errorf("PostfixPolicy = %q, want %q", got, want)
	}
	if got := r.server.requested(); !slices.Equal(got, []string{policyHost + policyPath}) {
		t.Errorf("requests %q, want Host and path %s%s", got, policyHost, policyPath)
	}
	p.MX[0] = "changed.example" // the caller's copy
	r.clock.advance(time.Hour)
	if p2 := r.mustLookup(t, "1", mtasts.ModeEnforce); p2.MX[0] != "mx1.example.test" || !p2.Fetched.Equal(p.Fetched) {
		t.Errorf("cached policy %+v", p2)
	}
	if n := r.fetches(); n != 1 {
		t.Errorf("%d fetches, want 1 (second lookup from the cache)", n)
	}
}

// testing and none policies are policies, but give Postfix no rule.
func TestNonEnforcingModes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ mode, body string }{{mtasts.ModeTesting, testingPolicy}, {mtasts.ModeNone, nonePolicy}} {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tt.body, nil)
			if got := r.mustLookup(t, "1", tt.mode).PostfixPolicy(); got != "" {
				t.Errorf("PostfixPolicy = %q, want \"\"", got)
			}
		})
	}
}

// Without a usable TXT record there is no policy and nothing is fetched.
func TestNoRecord(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, zone string }{
		{"no TXT", zoneWith("")},
		{"NXDOMAIN", ""},
		{"other TXT only", zoneWith("") + `_mta-sts.example.test. 60 IN TXT "v=spf1 -all"` + "\n"},
		{"two STS records", zoneWith("1") + `_mta-sts.example.test. 60 IN TXT "v=STSv1; id=2;"` + "\n"},
		{"invalid record", zoneWith("") + `_mta-sts.example.test. 60 IN TXT "v=STSv1; id=not-valid;"` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, enforcePolicy, nil)
			r.dns.set(tt.zone)
			r.mustNone(t)
			if n := r.fetches(); n != 0 {
				t.Errorf("%d fetches, want 0", n)
			}
		})
	}
}

// Keys that are not domain names have no policy and cause no DNS traffic.
func TestNotADomain(t *testing.T) {
	t.Parallel()
	r := newRig(t, enforcePolicy, nil)
	for _, key := range []string{"", ".example.test", "[192.0.2.1]", "[mx.example.test]:25", "example.test:25", "a..b", "bücher.example", "-x.example"} {
		if p, err := r.client.Lookup(context.Background(), key); p != nil || err != nil {
			t.Errorf("Lookup(%q) = %+v, %v; want nil, nil", key, p, err)
		}
	}
	if n := r.fetches(); n != 0 {
		t.Errorf("%d fetches", n)
	}
}

// The domain is case-insensitive and may end in a dot.
func TestDomainNormalised(t *testing.T) {
	t.Parallel()
	r := newRig(t, enforcePolicy, nil)
	for _, key := range []string{"Example.TEST", "example.test."} {
		if p, err := r.client.Lookup(context.Background(), key); err != nil || p == nil {
			t.Errorf("Lookup(%q) = %+v, %v", key, p, err)
		}
	}
	if n := r.fetches(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

// A new TXT id makes the next lookup fetch the policy again (RFC 8461 3.1).
func TestIDChangeRefetches(t *testing.T) {
	t.Parallel()
	r := newRig(t, enforcePolicy, nil)
	r.mustLookup(t, "1", mtasts.ModeEnforce)
	r.server.set(func(ps *policyServer) { ps.body = testingPolicy })
	r.mustLookup(t, "1", mtasts.ModeEnforce) // same id: the cache answers
	r.dns.set(zoneWith("2"))
	r.mustLookup(t, "2", mtasts.ModeTesting)
	r.mustLookup(t, "2", mtasts.ModeTesting)
	if n := r.fetches(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

// A policy is in force for max_age after its fetch and no longer (RFC 8461 3.2), even
// when its TXT record has gone meanwhile (8.3).
func TestMaxAgeExpiry(t *testing.T) {
	t.Parallel()
	const policy = "version: STSv1\nmode: enforce\nmx: mx1.example.test\nmax_age: 3600\n"
	r := newRig(t, policy, nil)
	r.mustLookup(t, "1", mtasts.ModeEnforce)
	r.clock.advance(3599 * time.Second)
	r.mustLookup(t, "1", mtasts.ModeEnforce)
	if n := r.fetches(); n != 1 {
		t.Fatalf("%d fetches before expiry, want 1", n)
	}
	r.clock.advance(time.Second)
	r.mustLookup(t, "1", mtasts.ModeEnforce) // expired: fetched again for the same id
	if n := r.fetches(); n != 2 {
		t.Fatalf("%d fetches after expiry, want 2", n)
	}
	r.dns.set(zoneWith(""))
	r.clock.advance(3599 * time.Second)
	r.mustLookup(t, "1", mtasts.ModeEnforce) // record gone, policy still in force
	r.clock.advance(time.Second)
	r.mustNone(t)
}

// When the fetch of a new policy fails, the cached one stays in force (RFC 8461 3.3);
// the failed id is not fetched again before FetchBackoff.
func TestFetchFailureKeepsCachedPolicy(t *testing.T) {
	t.Parallel()
	r := newRig(t, enforcePolicy, func(o *mtasts.Options) { o.FetchBackoff = 10 * time.Minute })
	r.mustLookup(t, "1", mtasts.ModeEnforce)
	r.dns.set(zoneWith("2"))
	r.server.set(func(ps *policyServer) { ps.status = 503 })
	r.mustLookup(t, "1", mtasts.ModeEnforce)
	if !logsContain(r.logs, "cached policy stays in force") || !logsContain(r.logs, "503") {
		t.Errorf("failure not logged:\n%s", r.logs)
	}
	r.clock.advance(9 * time.Minute)
	r.mustLookup(t, "1", mtasts.ModeEnforce)
	if n := r.fetches(); n != 2 {
		t.Errorf("%d fetches within the backoff, want 2", n)
	}
	r.server.set(func(ps *policyServer) { ps.status = 200; ps.body = testingPolicy })
	r.clock.advance(time.Minute)
	r.mustLookup(t, "2", mtasts.ModeTesting)
	if n := r.fetches(); n != 3 {
		t.Errorf("%d fetches, want 3", n)
	}
}

// Without a cached policy a failed fetch means no policy (RFC 8461 3.3: deliver as if
// the domain had no MTA-STS); later lookups within the backoff do not fetch.
func TestFetchFailureWithoutCache(t *testing.T) {
	t.Parallel()
	r := newRig(t, enforcePolicy, nil)
	r.server.set(func(ps *policyServer) { ps.status = 500 })
	r.mustNone(t)
	r.mustNone(t)
	if n := r.fetches(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
	r.clock.advance(mtasts.DefaultFetchBackoff)
	r.server.set(func(ps *policyServer) { ps.status = 200 })
	r.mustLookup(t, "1", mtasts.ModeEnforce)
}

// DNS trouble never removes a cached policy; without one it is an error.
func TestDNSFailure(t *testing.T) {
	t.Parallel()
	r := newRig(t, enforcePolicy, nil)
	r.dns.servfail()
	if p, err := r.lookup(t); p != nil || err == nil {
		t.Fatalf("no cache, SERVFAIL: %+v, %v; want an error", p, err)
	}
	r.dns.set(zoneWith("1"))
	r.mustLookup(t, "1", mtasts.ModeEnforce)
	r.dns.servfail()
	r.mustLookup(t, "1", mtasts.ModeEnforce)
	r.dns.set("") // NXDOMAIN everywhere
	r.mustLookup(t, "1", mtasts.ModeEnforce)
}

// Concurrent lookups that need the same policy share one fetch.
func TestConcurrentLookupsShareFetch(t *testing.T) {
	t.Parallel()
	r := newRig(t, enforcePolicy, nil)
	r.server.set(func(ps *policyServer) { ps.delay = 100 * time.Millisecond })
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if p, err := r.client.Lookup(context.Background(), domain); p == nil || err != nil {
				t.Errorf("Lookup = %+v, %v", p, err)
			}
		})
	}
	wg.Wait()
	if n := r.fetches(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

// A caller that gives up does not stop the fetch: its result fills the cache.
func TestCallerDeadlineFetchGoesOn(t *testing.T) {
	t.Parallel()
	r := newRig(t, enforcePolicy, nil)
	r.server.set(func(ps *policyServer) { ps.delay = 300 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if p, err := r.client.Lookup(ctx, domain); p != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lookup = %+v, %v; want deadline exceeded", p, err)
	}
	waitFor(t, func() bool { return logsContain(r.logs, "policy fetched") })
	r.mustLookup(t, "1", mtasts.ModeEnforce)
	if n := r.fetches(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

// The policy host's addresses come from the Resolver, tried in turn.
func TestPolicyHostAddresses(t *testing.T) {
	t.Parallel()
	r := newRig(t, enforcePolicy, nil)
	// 127.0.0.2 refuses the connection (nothing listens there on this port).
	r.dns.set(`_mta-sts.example.test. 60 IN TXT "v=STSv1; id=1;"
mta-sts.example.test. 60 IN A 127.0.0.2
mta-sts.example.test. 60 IN A 127.0.0.1
`)
	r.mustLookup(t, "1", mtasts.ModeEnforce)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
