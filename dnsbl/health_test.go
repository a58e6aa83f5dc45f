package dnsbl

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

const (
	zoneName = "bl.example"
	point2   = listedPoint + zoneName
	point1   = unlistedPoint + zoneName
)

func TestCheckHealth(t *testing.T) {
	tests := []struct {
		name           string
		codes          []string
		p2, p1         fakeAnswer // zero: NXDOMAIN
		healthy, known bool
		why            string // in the Skipped error
	}{
		{name: "rfc 5782 behaviour", p2: ok("127.0.0.2"), healthy: true, known: true},
		{name: "several codes for 127.0.0.2", codes: []string{"127.0.0.4"},
			p2: ok("127.0.0.2", "127.0.0.4", "127.0.0.10"), healthy: true, known: true},
		{name: "127.0.0.1 nodata", p2: ok("127.0.0.2"), p1: ok(), healthy: true, known: true},
		{name: "127.0.0.2 not listed", known: true, why: "2.0.0.127.bl.example is not listed"},
		{name: "127.0.0.2 nodata", p2: ok(), known: true, why: "is not listed"},
		{name: "query blocked", p2: ok("127.255.255.254"), p1: ok("127.255.255.254"),
			known: true, why: "answered [127.255.255.254] (query blocked)"},
		{name: "nxdomain rewritten", p2: ok("198.51.100.7"), p1: ok("198.51.100.7"), known: true, why: "query blocked"},
		{name: "127.0.0.1 listed", p2: ok("127.0.0.2"), p1: ok("127.0.0.2"), known: true, why: "must not be listed"},
		{name: "127.0.0.1 filtered still listed", codes: []string{"127.0.0.2"},
			p2: ok("127.0.0.2"), p1: ok("127.0.0.3"), known: true, why: "must not be listed"},
		{name: "test entry outside the accepted codes still proves the list", codes: []string{"127.0.0.3"}, p2: ok("127.0.0.2"),
			healthy: true, known: true},
		{name: "servfail leaves unknown", p2: fakeAnswer{err: servfail(point2)}},
		{name: "failure outweighs servfail", p2: fakeAnswer{err: servfail(point2)}, p1: ok("127.0.0.2"),
			known: true, why: "must not be listed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			setPoints(f, tt.p2, tt.p1)
			c, err := New([]ZoneConfig{{Name: zoneName, Weight: 1, Codes: tt.codes}}, f, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.CheckHealth(t.Context())
			healthy, known := c.Healthy(zoneName)
			if healthy != tt.healthy || known != tt.known {
				t.Errorf("Healthy = %v, %v; want %v, %v", healthy, known, tt.healthy, tt.known)
			}
			skip := c.Check(t.Context(), netip.MustParseAddr(client4)).Zones[0].Err
			if tt.why != "" && (!errors.Is(skip, ErrUnhealthy) || !strings.Contains(skip.Error(), tt.why)) {
				t.Errorf("Skipped because %v, want ErrUnhealthy saying %q", skip, tt.why)
			}
		})
	}
}

func ok(addrs ...string) fakeAnswer { return fakeAnswer{addrs: parseAddrs(addrs...)} }

// setPoints installs the two test-point answers; a zero answer is NXDOMAIN.
func setPoints(f *fakeResolver, p2, p1 fakeAnswer) {
	for name, a := range map[string]fakeAnswer{point2: p2, point1: p1} {
		if a.addrs == nil && a.err == nil {
			f.remove(name)
		} else {
			f.set(name, a)
		}
	}
}

// TestHealthTransitions walks a zone through healthy → blocked on a real
// query → unhealthy → DNS trouble (no change) → recovered, and checks that
// each transition is logged exactly once.
func TestHealthTransitions(t *testing.T) {
	rec := &logRecorder{}
	f := newFake()
	c := newChecker(t, f, slog.New(rec), ZoneConfig{Name: zoneName, Weight: 1})
	client := netip.MustParseAddr(client4)
	ctx := t.Context()
	steps := []struct {
		name   string
		do     func()
		status Status // of a Check after the step
		log    string // Info+ lines logged by the step
	}{
		{"starts healthy (newChecker's CheckHealth)", func() {}, NotListed, "INFO dnsbl zone healthy " + zoneName},
		{"blocked answer to a real query", func() {
			f.answer(rev4+zoneName, "127.255.255.254")
			if st := c.Check(ctx, client).Zones[0].Status; st != Blocked {
				t.Errorf("real query: %v, want blocked", st)
			}
		}, Skipped, "WARN dnsbl zone unhealthy, not used until it recovers " + zoneName},
		{"health check confirms, logs nothing new", func() {
			setPoints(f, ok("127.255.255.254"), ok("127.255.255.254"))
			c.CheckHealth(ctx)
			c.CheckHealth(ctx)
		}, Skipped, ""},
		{"servfail keeps unhealthy", func() {
			setPoints(f, fakeAnswer{err: servfail(point2)}, fakeAnswer{})
			c.CheckHealth(ctx)
		}, Skipped, ""},
		{"recovers", func() {
			f.healthy(zoneName)
			f.answer(rev4+zoneName, "127.0.0.2")
			c.CheckHealth(ctx)
			c.CheckHealth(ctx)
		}, Listed, "INFO dnsbl zone healthy " + zoneName},
		{"servfail keeps healthy", func() {
			setPoints(f, fakeAnswer{err: servfail(point2)}, fakeAnswer{err: servfail(point1)})
			c.CheckHealth(ctx)
		}, Listed, ""},
	}
	for _, s := range steps {
		s.do()
		if got := rec.take(); got != s.log {
			t.Errorf("%s: logged %q, want %q", s.name, got, s.log)
		}
		if st := c.Check(ctx, client).Zones[0].Status; st != s.status {
			t.Errorf("%s: Check gives %v, want %v", s.name, st, s.status)
		}
	}
}

func TestHealthyLookup(t *testing.T) {
	f := newFake()
	c := newChecker(t, f, nil, ZoneConfig{Name: zoneName, Weight: 1})
	tests := []struct {
		zone           string
		healthy, known bool
	}{
		{zoneName, true, true},
		{"BL.Example.", true, true},
		{"other.example", false, false},
	}
	for _, tt := range tests {
		if h, k := c.Healthy(tt.zone); h != tt.healthy || k != tt.known {
			t.Errorf("Healthy(%q) = %v, %v; want %v, %v", tt.zone, h, k, tt.healthy, tt.known)
		}
	}
}

func TestRetryInterval(t *testing.T) {
	tests := []struct{ every, want time.Duration }{
		{10 * time.Minute, 2 * time.Minute},
		{time.Hour, 12 * time.Minute},
		{time.Minute, 30 * time.Second},
		{10 * time.Second, 10 * time.Second},
	}
	for _, tt := range tests {
		if got := retryInterval(tt.every); got != tt.want {
			t.Errorf("retryInterval(%v) = %v, want %v", tt.every, got, tt.want)
		}
	}
}

// TestMonitor: healthy zones are re-checked every `every`, unhealthy ones
// every every/5, and a zone that recovers goes back to the long interval.
func TestMonitor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		good, bad := "good.example", "bad.example"
		f.healthy(good)
		f.answer(listedPoint+bad, "127.255.255.254")
		c, err := New([]ZoneConfig{{Name: good, Weight: 1}, {Name: bad, Weight: 1}}, f, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { c.Monitor(ctx, 10*time.Minute); close(done) }()

		// At minute m, the test points have been queried this often.
		steps := []struct {
			at        time.Duration
			do        func()
			good, bad int
		}{
			{0, nil, 1, 1},
			{time.Minute, nil, 1, 1},
			{2 * time.Minute, func() { f.healthy(bad) }, 1, 2}, // fixed after this round's check
			{4 * time.Minute, nil, 1, 3},                       // recovered on the short interval
			{9 * time.Minute, nil, 1, 3},
			{10 * time.Minute, nil, 2, 3},
			{14 * time.Minute, nil, 2, 4}, // back on the long interval
			{20 * time.Minute, nil, 3, 4},
		}
		start := time.Now()
		for _, s := range steps {
			time.Sleep(s.at - time.Since(start))
			synctest.Wait()
			if g, b := f.count(listedPoint+good), f.count(listedPoint+bad); g != s.good || b != s.bad {
				t.Errorf("at %v: checks good=%d bad=%d, want %d, %d", s.at, g, b, s.good, s.bad)
			}
			if s.do != nil {
				s.do()
			}
		}
		if h, _ := c.Healthy(bad); !h {
			t.Error("bad.example did not recover")
		}
		cancel()
		<-done
	})
}

// TestMonitorWake: a zone that turns unhealthy on a real query is
// re-checked at once, not an hour later.
func TestMonitorWake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.healthy(zoneName)
		c, err := New([]ZoneConfig{{Name: zoneName, Weight: 1}}, f, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { c.Monitor(ctx, time.Hour); close(done) }()
		time.Sleep(30 * time.Minute)
		synctest.Wait()

		f.answer(rev4+zoneName, "127.255.255.254") // a hiccup: the test points still pass
		c.Check(ctx, netip.MustParseAddr(client4))
		synctest.Wait()
		if n := f.count(point2); n != 2 {
			t.Errorf("test point queried %d times, want 2 (start, wake-up)", n)
		}
		if h, _ := c.Healthy(zoneName); !h {
			t.Error("zone not healthy again after the wake-up check")
		}
		cancel()
		<-done
	})
}
