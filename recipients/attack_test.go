package recipients

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"spamgate/internal/slapdtest"
)

// Clients of the attack tests: addresses only, nothing connects from them.
var (
	legitClient  = netip.MustParseAddr("198.51.100.7")
	attackClient = netip.MustParseAddr("203.0.113.66")
)

// attackLDIF is the test directory with n more mailboxes, so that each search of the
// (unindexed) description filter scans them: a directory that costs something to ask.
func attackLDIF(n int) string {
	var b strings.Builder
	b.WriteString(directoryLDIF)
	for i := range n {
		fmt.Fprintf(&b, "\ndn: uid=u%d,dc=example,dc=test\nobjectClass: inetOrgPerson\nuid: u%d\ncn: U\nsn: U\nmail: u%d@example.test\n", i, i, i)
	}
	return b.String()
}

// legitRun is what the legitimate client saw: each lookup's time and the failures.
type legitRun struct {
	times    []time.Duration
	failures int // errors: the engine's 451 4.3.0
}

func (r legitRun) median() time.Duration {
	s := slices.Clone(r.times)
	slices.Sort(s)
	return s[len(s)/2]
}

// legitLookups checks n known mailboxes (u0, u1, …) one after another from
// legitClient, while stop is open.
func legitLookups(t *testing.T, v *Validator, n int, stop <-chan struct{}) legitRun {
	t.Helper()
	var r legitRun
	for i := range n {
		select {
		case <-stop:
			return r
		default:
		}
		addr := fmt.Sprintf("u%d@example.test", i)
		start := time.Now()
		res, err := v.CheckClient(context.Background(), legitClient, addr)
		r.times = append(r.times, time.Since(start))
		switch {
		case err != nil:
			r.failures++
		case res.Status != Known:
			t.Errorf("%s: %+v, want known", addr, res)
		}
	}
	return r
}

// attack sends rcpts random addresses from attackClient, conc at a time, and returns
// how many were looked up (answered unknown) and how many failed (451).
func attack(v *Validator, rcpts, conc int) (unknown, failed *atomic.Int64, done chan struct{}) {
	unknown, failed, done = &atomic.Int64{}, &atomic.Int64{}, make(chan struct{})
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(rcpts); i = next.Add(1) {
				res, err := v.CheckClient(context.Background(), attackClient, fmt.Sprintf("x%dq@example.test", i))
				switch {
				case err != nil:
					failed.Add(1)
				case res.Status == Unknown:
					unknown.Add(1)
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	return unknown, failed, done
}

// A dictionary attack of 2,000 random recipients from one client, 64 at a time, against
// a real slapd with a 4-connection pool, while a legitimate client checks known
// mailboxes (positive cache off, so each of its checks asks LDAP too):
//
//   - without client limits (the behaviour before them), the legitimate lookups queue
//     behind the attacker's in the pool and fail at the timeout: 451 for real mail;
//   - with the default limits (2 of the 4 connections per client network, 20 misses
//     a minute), none fails and their median time stays within a small multiple of
//     the unloaded one; the attacker's surplus is refused without a search.
func TestDictionaryAttack(t *testing.T) {
	s := slapdtest.Start(t, attackLDIF(1000))
	const rcpts, conc, legit = 2000, 64, 40
	run := func(limits bool) (before, during legitRun, unknown, failed int64, searches int64) {
		v := newLDAPValidator(t, s, func(o *LDAPOptions) {
			o.PositiveTTL, o.Timeout = -1, 100*time.Millisecond
			if !limits {
				o.ClientLookups, o.ClientMissRate = -1, -1
			}
		})
		before = legitLookups(t, v, legit, nil)
		q0 := queries(v)
		u, f, done := attack(v, rcpts, conc)
		during = legitLookups(t, v, legit, nil)
		<-done
		return before, during, u.Load(), f.Load(), queries(v) - q0 - int64(len(during.times))
	}
	b0, d0, u0, f0, q0 := run(false)
	t.Logf("no client limits: legitimate lookups failed %d of %d, median %v unloaded, %v under attack (x%.1f); attacker: %d unknown, %d failed, %d searches",
		d0.failures, len(d0.times), b0.median(), d0.median(), float64(d0.median())/float64(b0.median()), u0, f0, q0)
	b1, d1, u1, f1, q1 := run(true)
	t.Logf("default limits: legitimate lookups failed %d of %d, median %v unloaded, %v under attack (x%.1f); attacker: %d unknown, %d failed, %d searches",
		d1.failures, len(d1.times), b1.median(), d1.median(), float64(d1.median())/float64(b1.median()), u1, f1, q1)
	if b0.failures+b1.failures > 0 {
		t.Fatalf("unloaded lookups failed: %d, %d", b0.failures, b1.failures)
	}
	if d1.failures != 0 {
		t.Errorf("with limits, %d legitimate lookups failed (451)", d1.failures)
	}
	if ratio := float64(d1.median()) / float64(b1.median()); ratio > 5 {
		t.Errorf("with limits, legitimate median under attack is %.1f times the unloaded one, want at most 5", ratio)
	}
	if q1 > q0/10 {
		t.Errorf("with limits, the attack made %d searches (%d without): the budget does not bite", q1, q0)
	}
	if u1+f1 != rcpts {
		t.Errorf("attacker: %d unknown + %d failed, want %d answers", u1, f1, rcpts)
	}
}

// The miss budget is per client network and spent only by lookups that find nothing;
// past it the client's uncached addresses fail with ErrRateLimited (a tempfail, never
// unknown), while its cached and its known addresses still pass, other networks are
// untouched, and the budget comes back with time.
func TestClientMissBudget(t *testing.T) {
	s := slapdtest.Start(t, directoryLDIF)
	v := newLDAPValidator(t, s, func(o *LDAPOptions) { o.ClientMissRate = 5; o.PositiveTTL = time.Hour })
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	v.limits.now = func() time.Time { return now }
	ctx := context.Background()
	checkFrom := func(client netip.Addr, addr string) (Result, error) { return v.CheckClient(ctx, client, addr) }
	if r, err := checkFrom(attackClient, "alice@example.test"); err != nil || r.Status != Known {
		t.Fatalf("alice: %+v, %v", r, err)
	}
	for i := range 5 {
		if r, err := checkFrom(attackClient, fmt.Sprintf("nobody%d@example.test", i)); err != nil || r.Status != Unknown {
			t.Fatalf("miss %d: %+v, %v", i, r, err)
		}
	}
	neighbour := netip.MustParseAddr("203.0.113.200") // same /24: same budget
	for _, c := range []netip.Addr{attackClient, neighbour} {
		_, err := checkFrom(c, "nobody9@example.test")
		if !errors.Is(err, ErrRateLimited) || !errors.Is(err, ErrUnavailable) {
			t.Errorf("over the budget from %v: %v, want ErrRateLimited", c, err)
		}
	}
	for _, addr := range []string{"nobody0@example.test", "alice@example.test", "alice+x@example.test"} {
		if _, err := checkFrom(attackClient, addr); err != nil {
			t.Errorf("%s (cached) over the budget: %v", addr, err)
		}
	}
	if r, err := checkFrom(legitClient, "nobody9@example.test"); err != nil || r.Status != Unknown {
		t.Errorf("another network: %+v, %v", r, err)
	}
	if r, err := v.Check(ctx, "nobody10@example.test"); err != nil || r.Status != Unknown {
		t.Errorf("Check without a client: %+v, %v", r, err)
	}
	now = now.Add(12 * time.Second) // 5 a minute: one more miss allowed
	if _, err := checkFrom(attackClient, "nobody11@example.test"); err != nil {
		t.Errorf("after 12s: %v", err)
	}
	if _, err := checkFrom(attackClient, "nobody12@example.test"); !errors.Is(err, ErrRateLimited) {
		t.Errorf("second miss after 12s: %v, want ErrRateLimited", err)
	}
	if st := v.Stats(); st.RateLimited != 4 { // alice+x: refused a lookup, answered from alice's entry
		t.Errorf("Stats().RateLimited = %d, want 4", st.RateLimited)
	}
}

// A client network never has more than ClientLookups lookups on the pool; the rest
// wait for their turn (counted) and still get their answer.
func TestClientLookupsLimit(t *testing.T) {
	s := slapdtest.Start(t, directoryLDIF)
	v := newLDAPValidator(t, s, func(o *LDAPOptions) {
		o.PoolSize, o.ClientLookups, o.ClientMissRate, o.Timeout = 4, 1, -1, 5*time.Second
	})
	u, f, done := attack(v, 100, 16)
	<-done
	if u.Load() != 100 || f.Load() != 0 {
		t.Errorf("%d unknown, %d failed; want 100, 0", u.Load(), f.Load())
	}
	if n := v.dir.dials.Load(); n != 1 {
		t.Errorf("%d connections dialed for one client limited to 1 lookup at a time, want 1", n)
	}
	if v.Stats().ClientWaits == 0 {
		t.Error("no lookup waited for its turn")
	}
}
