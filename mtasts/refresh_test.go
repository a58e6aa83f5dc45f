package mtasts_test

import (
	"context"
	"testing"
	"time"

	"spamgate/mtasts"
)

// Refresh re-fetches a policy a day after its fetch, even with an unchanged id, which
// restarts its max_age; policies not yet due are left alone.
func TestRefresh(t *testing.T) {
	t.Parallel()
	r := newRig(t, enforcePolicy, nil) // max_age one week
	first := r.mustLookup(t, "1", mtasts.ModeEnforce)
	ctx := context.Background()
	r.clock.advance(mtasts.RefreshInterval - time.Second)
	r.client.Refresh(ctx)
	if n := r.fetches(); n != 1 {
		t.Fatalf("%d fetches before the policy is due, want 1", n)
	}
	r.clock.advance(time.Second)
	r.client.Refresh(ctx)
	if n := r.fetches(); n != 2 {
		t.Fatalf("%d fetches after Refresh, want 2", n)
	}
	p := r.mustLookup(t, "1", mtasts.ModeEnforce)
	if want := first.Fetched.Add(mtasts.RefreshInterval); !p.Fetched.Equal(want) {
		t.Errorf("Fetched %v, want %v", p.Fetched, want)
	}
}

// A policy with a short max_age is refreshed after half of it.
func TestRefreshShortMaxAge(t *testing.T) {
	t.Parallel()
	const policy = "version: STSv1\nmode: enforce\nmx: mx1.example.test\nmax_age: 600\n"
	r := newRig(t, policy, nil)
	r.mustLookup(t, "1", mtasts.ModeEnforce)
	r.clock.advance(299 * time.Second)
	r.client.Refresh(context.Background())
	r.clock.advance(time.Second)
	r.client.Refresh(context.Background())
	if n := r.fetches(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

// A refresh that finds no record, a DNS failure or a failing server keeps the policy;
// a refresh that fetches a new id replaces it.
func TestRefreshKeepsPolicyOnFailure(t *testing.T) {
	t.Parallel()
	r := newRig(t, enforcePolicy, nil)
	r.mustLookup(t, "1", mtasts.ModeEnforce)
	ctx := context.Background()
	steps := []func(){
		func() { r.dns.set(zoneWith("")) },
		func() { r.dns.servfail() },
		func() { r.dns.set(zoneWith("1")); r.server.set(func(ps *policyServer) { ps.status = 500 }) },
	}
	for i, step := range steps {
		step()
		r.clock.advance(mtasts.RefreshInterval)
		r.client.Refresh(ctx)
		r.dns.set(zoneWith("1"))
		r.mustLookup(t, "1", mtasts.ModeEnforce)
		if i < 2 && r.fetches() != 1 {
			t.Errorf("step %d: %d fetches, want 1", i, r.fetches())
		}
	}
	r.server.set(func(ps *policyServer) { ps.status = 200; ps.body = nonePolicy })
	r.dns.set(zoneWith("2"))
	r.clock.advance(mtasts.RefreshInterval)
	r.client.Refresh(ctx)
	r.dns.set(zoneWith("")) // the none policy stays cached without its record
	r.mustLookup(t, "2", mtasts.ModeNone)
}

// Run refreshes periodically until its context ends.
func TestRun(t *testing.T) {
	t.Parallel()
	r := newRig(t, enforcePolicy, nil)
	r.mustLookup(t, "1", mtasts.ModeEnforce)
	r.clock.advance(mtasts.RefreshInterval)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.client.Run(ctx, 10*time.Millisecond); close(done) }()
	waitFor(t, func() bool { return r.fetches() == 2 })
	cancel()
	<-done
}

// Run without an interval uses the default one (and does not panic).
func TestRunDefaultInterval(t *testing.T) {
	t.Parallel()
	r := newRig(t, enforcePolicy, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.client.Run(ctx, 0); close(done) }()
	cancel()
	<-done
}
