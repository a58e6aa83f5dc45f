package dnsbl

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// Client addresses are documentation prefixes (RFC 5737, RFC 3849): data
// for the fake resolver, never dialled.
const (
	client4 = "192.0.2.10"
	client6 = "2001:db8::10"
	rev4    = "10.2.0.192."
)

func TestCheck(t *testing.T) {
	zen := ZoneConfig{Name: "zen.example", Weight: 2, Codes: []string{"127.0.0.2-127.0.0.11"}}
	bl := ZoneConfig{Name: "bl.example", Weight: 1}
	info := ZoneConfig{Name: "info.example", Weight: 0}
	tests := []struct {
		name    string
		zones   []ZoneConfig
		ip      string
		answers map[string][]string // query name → A records
		errs    map[string]error    // query name → failure
		status  []Status            // per zone, config order
		score   float64
		listed  []string // Result.Listed() zone order
	}{
		{name: "listed default codes", zones: []ZoneConfig{bl}, ip: client4,
			answers: map[string][]string{rev4 + "bl.example": {"127.0.0.2"}},
			status:  []Status{Listed}, score: 1, listed: []string{"bl.example"}},
		{name: "not listed", zones: []ZoneConfig{bl}, ip: client4,
			status: []Status{NotListed}},
		{name: "nodata is not listed", zones: []ZoneConfig{bl}, ip: client4,
			answers: map[string][]string{rev4 + "bl.example": {}},
			status:  []Status{NotListed}},
		{name: "filtered code", zones: []ZoneConfig{zen}, ip: client4,
			answers: map[string][]string{rev4 + "zen.example": {"127.0.0.20"}},
			status:  []Status{Filtered}},
		{name: "one accepted code among filtered", zones: []ZoneConfig{zen}, ip: client4,
			answers: map[string][]string{rev4 + "zen.example": {"127.0.0.20", "127.0.0.4"}},
			status:  []Status{Listed}, score: 2, listed: []string{"zen.example"}},
		{name: "query blocked", zones: []ZoneConfig{zen, bl}, ip: client4,
			answers: map[string][]string{
				rev4 + "zen.example": {"127.255.255.254"},
				rev4 + "bl.example":  {"127.255.255.252"}},
			status: []Status{Blocked, Blocked}},
		{name: "blocked spoils a listing", zones: []ZoneConfig{bl}, ip: client4,
			answers: map[string][]string{rev4 + "bl.example": {"127.0.0.2", "127.255.255.255"}},
			status:  []Status{Blocked}},
		{name: "answer outside 127/8", zones: []ZoneConfig{bl}, ip: client4,
			answers: map[string][]string{rev4 + "bl.example": {"198.51.100.7"}},
			status:  []Status{Blocked}},
		{name: "dns failure fails open", zones: []ZoneConfig{zen, bl}, ip: client4,
			answers: map[string][]string{rev4 + "bl.example": {"127.0.0.2"}},
			errs:    map[string]error{rev4 + "zen.example": servfail(rev4 + "zen.example")},
			status:  []Status{Error, Listed}, score: 1, listed: []string{"bl.example"}},
		{name: "non-dns error", zones: []ZoneConfig{bl}, ip: client4,
			errs:   map[string]error{rev4 + "bl.example": errors.New("resolver closed")},
			status: []Status{Error}},
		{name: "score sums, heaviest first", zones: []ZoneConfig{bl, info, zen}, ip: client4,
			answers: map[string][]string{
				rev4 + "bl.example":   {"127.0.0.2"},
				rev4 + "info.example": {"127.0.0.2"},
				rev4 + "zen.example":  {"127.0.0.3"}},
			status: []Status{Listed, Listed, Listed}, score: 3,
			listed: []string{"zen.example", "bl.example", "info.example"}},
		{name: "equal weights keep config order",
			zones: []ZoneConfig{{Name: "b.example", Weight: 1}, {Name: "a.example", Weight: 1}}, ip: client4,
			answers: map[string][]string{rev4 + "a.example": {"127.0.0.2"}, rev4 + "b.example": {"127.0.0.2"}},
			status:  []Status{Listed, Listed}, score: 2, listed: []string{"b.example", "a.example"}},
		{name: "ipv6 nibbles", zones: []ZoneConfig{bl}, ip: client6,
			answers: map[string][]string{QueryName(netip.MustParseAddr(client6), "bl.example"): {"127.0.0.2"}},
			status:  []Status{Listed}, score: 1, listed: []string{"bl.example"}},
		{name: "ipv4-mapped client", zones: []ZoneConfig{bl}, ip: "::ffff:" + client4,
			answers: map[string][]string{rev4 + "bl.example": {"127.0.0.2"}},
			status:  []Status{Listed}, score: 1, listed: []string{"bl.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			c := newChecker(t, f, nil, tt.zones...)
			for name, addrs := range tt.answers {
				f.answer(name, addrs...)
			}
			for name, err := range tt.errs {
				f.set(name, fakeAnswer{err: err})
			}
			res := c.Check(t.Context(), netip.MustParseAddr(tt.ip))
			if got := statuses(res); !slices.Equal(got, tt.status) {
				t.Errorf("statuses %v, want %v", got, tt.status)
			}
			if res.Score != tt.score {
				t.Errorf("score %v, want %v", res.Score, tt.score)
			}
			if got := zoneNames(res.Listed()); !slices.Equal(got, tt.listed) {
				t.Errorf("Listed() %q, want %q", got, tt.listed)
			}
			checkErrs(t, res)
		})
	}
}

// checkErrs: Err is set exactly for Error and Skipped, and names the zone.
func checkErrs(t *testing.T, res Result) {
	t.Helper()
	for _, z := range res.Zones {
		wantErr := z.Status == Error || z.Status == Skipped
		if (z.Err != nil) != wantErr {
			t.Errorf("%s: status %v with Err %v", z.Zone, z.Status, z.Err)
		}
		if z.Status == Error && !strings.Contains(z.Err.Error(), z.Zone) {
			t.Errorf("%s: Err %q does not name the zone", z.Zone, z.Err)
		}
	}
}

func statuses(r Result) []Status {
	var s []Status
	for _, z := range r.Zones {
		s = append(s, z.Status)
	}
	return s
}

func zoneNames(zs []ZoneResult) []string {
	var s []string
	for _, z := range zs {
		s = append(s, z.Zone)
	}
	return s
}

func TestCheckErrorUnwraps(t *testing.T) {
	f := newFake()
	c := newChecker(t, f, nil, ZoneConfig{Name: "bl.example", Weight: 1})
	f.set(rev4+"bl.example", fakeAnswer{err: servfail(rev4 + "bl.example")})
	z := c.Check(t.Context(), netip.MustParseAddr(client4)).Zones[0]
	if e, ok := errors.AsType[*net.DNSError](z.Err); !ok || !e.IsTemporary {
		t.Errorf("Err %v does not unwrap to the resolver's *net.DNSError", z.Err)
	}
}

func TestCheckInvalidIP(t *testing.T) {
	f := newFake()
	c := newChecker(t, f, nil, ZoneConfig{Name: "bl.example", Weight: 1})
	res := c.Check(t.Context(), netip.Addr{})
	if res.Zones[0].Status != Error || !errors.Is(res.Zones[0].Err, errInvalidIP) {
		t.Errorf("got %v %v, want Error errInvalidIP", res.Zones[0].Status, res.Zones[0].Err)
	}
}

// TestCheckUnknownHealth: before any health check nothing is queried, so a
// list that would answer "blocked" or list everyone cannot reject anyone.
func TestCheckUnknownHealth(t *testing.T) {
	f := newFake()
	c, err := New([]ZoneConfig{{Name: "bl.example", Weight: 5}}, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.answer(rev4+"bl.example", "127.0.0.2")
	res := c.Check(t.Context(), netip.MustParseAddr(client4))
	z := res.Zones[0]
	if z.Status != Skipped || !errors.Is(z.Err, ErrHealthUnknown) || res.Score != 0 {
		t.Errorf("got %v %v score %v, want Skipped ErrHealthUnknown score 0", z.Status, z.Err, res.Score)
	}
	if n := f.count(rev4 + "bl.example"); n != 0 {
		t.Errorf("skipped zone queried %d times", n)
	}
}

// TestCheckDeadline: at the deadline Check returns what it has; a zone
// still pending is an Error, even when the resolver ignores ctx.
func TestCheckDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		c := newChecker(t, f, nil,
			ZoneConfig{Name: "fast.example", Weight: 1},
			ZoneConfig{Name: "slow.example", Weight: 1},
			ZoneConfig{Name: "stuck.example", Weight: 1})
		f.set(rev4+"fast.example", fakeAnswer{addrs: parseAddrs("127.0.0.2"), delay: 100 * time.Millisecond})
		f.set(rev4+"slow.example", fakeAnswer{addrs: parseAddrs("127.0.0.2"), delay: time.Minute})
		f.set(rev4+"stuck.example", fakeAnswer{addrs: parseAddrs("127.0.0.2"), delay: time.Minute, ignoreCtx: true})

		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		start := time.Now()
		res := c.Check(ctx, netip.MustParseAddr(client4))
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("Check took %v, want exactly the 2s deadline", d)
		}
		if got, want := statuses(res), []Status{Listed, Error, Error}; !slices.Equal(got, want) {
			t.Errorf("statuses %v, want %v", got, want)
		}
		for _, z := range res.Zones[1:] {
			if !errors.Is(z.Err, context.DeadlineExceeded) {
				t.Errorf("%s: Err %v, want deadline exceeded", z.Zone, z.Err)
			}
		}
		if res.Score != 1 {
			t.Errorf("score %v, want 1", res.Score)
		}
		checkErrs(t, res)
		// The stuck lookup finishes later: it must deliver into the buffered
		// channel and exit, not leak (synctest fails on a blocked goroutine).
		time.Sleep(time.Minute)
		synctest.Wait()
	})
}

// TestCheckParallel: zones are queried at the same time, not one by one.
func TestCheckParallel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		zones := []ZoneConfig{{Name: "a.example", Weight: 1}, {Name: "b.example", Weight: 1}, {Name: "c.example", Weight: 1}}
		c := newChecker(t, f, nil, zones...)
		for _, z := range zones {
			f.set(rev4+z.Name, fakeAnswer{err: f.notFound, delay: time.Second})
		}
		start := time.Now()
		res := c.Check(t.Context(), netip.MustParseAddr(client4))
		if d := time.Since(start); d != time.Second {
			t.Errorf("3 zones of 1s each took %v, want 1s", d)
		}
		if got, want := statuses(res), []Status{NotListed, NotListed, NotListed}; !slices.Equal(got, want) {
			t.Errorf("statuses %v, want %v", got, want)
		}
	})
}
