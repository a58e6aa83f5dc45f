package dnsbl

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeResolver answers from a table; names not in it are NXDOMAIN.
type fakeResolver struct {
	mu       sync.Mutex
	answers  map[string]fakeAnswer
	calls    map[string]int // nil: not counted (benchmarks)
	notFound error
}

type fakeAnswer struct {
	addrs     []netip.Addr
	err       error
	delay     time.Duration
	ignoreCtx bool // keep sleeping past the deadline, like a broken resolver
}

func newFake() *fakeResolver {
	return &fakeResolver{
		answers:  map[string]fakeAnswer{},
		calls:    map[string]int{},
		notFound: &net.DNSError{Err: "no such host", IsNotFound: true},
	}
}

func (f *fakeResolver) LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if network != "ip4" {
		return nil, &net.DNSError{Err: "fake: unexpected network " + network, Name: host}
	}
	f.mu.Lock()
	a, ok := f.answers[host]
	if f.calls != nil {
		f.calls[host]++
	}
	f.mu.Unlock()
	if a.delay > 0 {
		if err := sleep(ctx, a.delay, a.ignoreCtx); err != nil {
			return nil, err
		}
	}
	if !ok {
		return nil, f.notFound
	}
	return a.addrs, a.err
}

func sleep(ctx context.Context, d time.Duration, ignoreCtx bool) error {
	if ignoreCtx {
		time.Sleep(d)
		return nil
	}
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeResolver) set(name string, a fakeAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[name] = a
}

// answer makes name resolve to the given addresses.
func (f *fakeResolver) answer(name string, addrs ...string) {
	f.set(name, fakeAnswer{addrs: parseAddrs(addrs...)})
}

func (f *fakeResolver) remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.answers, name)
}

// healthy makes zone pass its RFC 5782 health check.
func (f *fakeResolver) healthy(zone string) {
	f.answer(listedPoint+zone, "127.0.0.2")
	f.remove(unlistedPoint + zone)
}

func (f *fakeResolver) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

func parseAddrs(addrs ...string) []netip.Addr {
	out := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

// servfail is a DNS failure that is not "not found".
func servfail(name string) error {
	return &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
}

// newChecker builds a Checker over f whose zones have all passed a health
// check, so that tests exercise Check rather than the health gate.
func newChecker(t testing.TB, f *fakeResolver, log *slog.Logger, zones ...ZoneConfig) *Checker {
	t.Helper()
	for _, z := range zones {
		f.healthy(normalizeZone(z.Name))
	}
	c, err := New(zones, f, log)
	if err != nil {
		t.Fatal(err)
	}
	c.CheckHealth(t.Context())
	for _, z := range c.Zones() {
		if ok, known := c.Healthy(z); !ok || !known {
			t.Fatalf("zone %s: healthy=%v known=%v after CheckHealth", z, ok, known)
		}
	}
	return c
}

// logRecorder keeps Info and above, to check that transitions log once.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var zone string
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "zone" {
			zone = a.Value.String()
		}
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Level.String()+" "+rec.Message+" "+zone)
	return nil
}

func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.msgs, "\n")
	r.msgs = nil
	return s
}
