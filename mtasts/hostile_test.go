package mtasts_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"spamgate/mtasts"
)

// hostileServer is one loopback HTTPS server that plays the policy host of any number of
// domains: a certificate for each policy host is issued on first use (by SNI), the body
// comes from body(domain), and it counts the requests it is serving at once. While gate
// is set, requests wait for it to close.
type hostileServer struct {
	*httptest.Server
	port int
	ca   *testCA
	body func(domain string) string

	mu    sync.Mutex
	certs map[string]*tls.Certificate
	gate  chan struct{}
	hits  map[string]int // requests per domain

	inFlight, maxInFlight atomic.Int64
}

func startHostileServer(t testing.TB, ca *testCA, body func(domain string) string) *hostileServer {
	t.Helper()
	hs := &hostileServer{ca: ca, body: body, certs: map[string]*tls.Certificate{}, hits: map[string]int{}}
	hs.Server = httptest.NewUnstartedServer(http.HandlerFunc(hs.serve))
	hs.TLS = &tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return hs.cert(t, hello.ServerName), nil
	}}
	hs.Config.ErrorLog = log.New(io.Discard, "", 0)
	hs.StartTLS()
	t.Cleanup(hs.Close)
	hs.port = hs.Listener.Addr().(*net.TCPAddr).Port
	return hs
}

func (hs *hostileServer) cert(t testing.TB, name string) *tls.Certificate {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if c := hs.certs[name]; c != nil {
		return c
	}
	c := hs.ca.valid(t, name)
	hs.certs[name] = &c
	return &c
}

func (hs *hostileServer) serve(w http.ResponseWriter, r *http.Request) {
	n := hs.inFlight.Add(1)
	defer hs.inFlight.Add(-1)
	for {
		m := hs.maxInFlight.Load()
		if n <= m || hs.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	d := strings.TrimPrefix(r.Host, "mta-sts.")
	hs.mu.Lock()
	gate := hs.gate
	hs.hits[d]++
	hs.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			panic(http.ErrAbortHandler)
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, hs.body(d))
}

// hold makes requests wait until the returned function is called.
func (hs *hostileServer) hold() (release func()) {
	g := make(chan struct{})
	hs.mu.Lock()
	hs.gate = g
	hs.mu.Unlock()
	return sync.OnceFunc(func() {
		hs.mu.Lock()
		hs.gate = nil
		hs.mu.Unlock()
		close(g)
	})
}

func (hs *hostileServer) fetchesOf(domain string) int {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.hits[domain]
}

// hostileZone publishes an MTA-STS record (id 1) and a policy host on 127.0.0.1 for
// each domain.
func hostileZone(domains []string) string {
	var b strings.Builder
	for _, d := range domains {
		fmt.Fprintf(&b, "_mta-sts.%s. 60 IN TXT \"v=STSv1; id=1;\"\nmta-sts.%s. 60 IN A 127.0.0.1\n", d, d)
	}
	return b.String()
}

// hostileClient is a client of the domains' policies, served by hs, with adjust applied.
func hostileClient(t *testing.T, hs *hostileServer, domains []string, adjust func(*mtasts.Options)) *mtasts.Client {
	t.Helper()
	o := mtasts.Options{
		Resolver: newSwitchDNS(t, hostileZone(domains)),
		RootCAs:  hs.ca.pool,
		Port:     hs.port,
		Timeout:  5 * time.Second,
		Now:      newClock().Now,
	}
	if adjust != nil {
		adjust(&o)
	}
	return mtasts.New(o)
}

// manyPatterns is an enforce policy of n distinct mx patterns, as short as they can
// be ("mx:a", "mx:b", …, "mx:aa", …), so that 8,730 of them fit in 64 KB.
func manyPatterns(n int) string {
	var b strings.Builder
	b.WriteString("version:STSv1\nmode:enforce\nmax_age:86400\n")
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var label func(i int) string
	label = func(i int) string {
		if i < len(alphabet) {
			return alphabet[i : i+1]
		}
		return label(i/len(alphabet)-1) + alphabet[i%len(alphabet):i%len(alphabet)+1]
	}
	for i := range n {
		b.WriteString("mx:" + label(i) + "\n")
	}
	return b.String()
}

// hostilePatterns is the finding's policy: 8,730 distinct mx patterns in 64 KB.
const hostilePatterns = 8730

// BenchmarkHostilePolicyAnswer: the Postfix answer for a domain whose cached policy
// has 8,730 mx patterns. "answer" is PostfixPolicy of the policy Lookup returned;
// "lookup" is the whole socketmap path (Lookup, which asks DNS for the TXT id, and
// PostfixPolicy).
func BenchmarkHostilePolicyAnswer(b *testing.B) {
	body := manyPatterns(hostilePatterns)
	if len(body) > mtasts.DefaultMaxBodySize {
		b.Fatalf("policy of %d bytes", len(body))
	}
	ca := newCA(b)
	hs := startHostileServer(b, ca, func(string) string { return body })
	c := mtasts.New(mtasts.Options{Resolver: newSwitchDNS(b, hostileZone([]string{domain})), RootCAs: ca.pool,
		Port: hs.port, Timeout: 5 * time.Second, Now: newClock().Now})
	ctx := context.Background()
	p, err := c.Lookup(ctx, domain)
	if err != nil || p == nil || p.PostfixPolicy() == "" {
		b.Fatalf("Lookup = %v, %v", p, err)
	}
	b.Run("answer", func(b *testing.B) {
		for b.Loop() {
			if p.PostfixPolicy() == "" {
				b.Fatal("no answer")
			}
		}
	})
	b.Run("lookup", func(b *testing.B) {
		for b.Loop() {
			p, err := c.Lookup(ctx, domain)
			if err != nil || p.PostfixPolicy() == "" {
				b.Fatal(err)
			}
		}
	})
}

// A policy of 8,730 distinct mx patterns keeps the first MaxPatterns (with a warning
// and a count): still enforce, so Postfix still requires TLS; an MX matched only by a
// dropped pattern is refused by Postfix and deferred, never delivered in cleartext.
func TestHostileManyPatterns(t *testing.T) {
	t.Parallel()
	body := manyPatterns(hostilePatterns)
	r := newRig(t, body, nil)
	p := r.mustLookup(t, "1", mtasts.ModeEnforce)
	if len(p.MX) != mtasts.MaxPatterns {
		t.Fatalf("%d mx patterns kept, want %d", len(p.MX), mtasts.MaxPatterns)
	}
	answer := p.PostfixPolicy()
	if n := strings.Count(answer, ":") + 1; !strings.HasPrefix(answer, "secure match=a:b:c:") || n != mtasts.MaxPatterns {
		t.Errorf("answer %.60q… has %d patterns, want %d", answer, n, mtasts.MaxPatterns)
	}
	if !p.Matches("a") || p.Matches("zz") {
		t.Errorf("Matches: first pattern %v (want true), pattern %d %v (want false)", p.Matches("a"), hostilePatterns, p.Matches("zz"))
	}
	if got := r.client.Stats().PatternsTrimmed; got != 1 {
		t.Errorf("Stats().PatternsTrimmed = %d, want 1", got)
	}
	if !logsContain(r.logs, "too many mx patterns") || !logsContain(r.logs, "dropped=8666") {
		t.Errorf("log lacks the warning:\n%.2000s", r.logs)
	}
	p.MX = []string{"mx.example.test"} // a caller's change makes a new answer
	if got := p.PostfixPolicy(); got != "secure match=mx.example.test servername=hostname" {
		t.Errorf("answer of a changed copy %q", got)
	}
	if got := r.mustLookup(t, "1", mtasts.ModeEnforce).PostfixPolicy(); got != answer {
		t.Errorf("cached answer changed: %.60q…", got)
	}
}

// Lookups of many domains never run more than MaxFetches fetches at once (counted at
// the server); the lookups over the limit answer at once with no policy, while the
// server still holds the fetches that run, and a later lookup fetches.
func TestHostileFetchLimit(t *testing.T) {
	t.Parallel()
	const limit, domains = 4, 64
	names := make([]string, domains)
	for i := range names {
		names[i] = fmt.Sprintf("d%d.attack.test", i)
	}
	ca := newCA(t)
	hs := startHostileServer(t, ca, func(string) string { return enforcePolicyFor("attack.test", 86400) })
	c := hostileClient(t, hs, names, func(o *mtasts.Options) { o.MaxFetches = limit })
	release := hs.hold()
	defer release()
	type result struct {
		p   *mtasts.Policy
		err error
	}
	results := make(chan result, domains)
	for _, d := range names {
		go func() {
			p, err := c.Lookup(context.Background(), d)
			results <- result{p, err}
		}()
	}
	for range domains - limit { // answered while the server holds every fetch
		if r := <-results; r.p != nil || r.err != nil {
			t.Errorf("lookup over the limit = %+v, %v; want nil, nil", r.p, r.err)
		}
	}
	waitFor(t, func() bool { return hs.inFlight.Load() == limit }) // the rest reach the server
	release()
	for range limit {
		if r := <-results; r.p == nil || r.err != nil {
			t.Errorf("lookup that fetched = %+v, %v", r.p, r.err)
		}
	}
	if m := hs.maxInFlight.Load(); m > limit {
		t.Errorf("%d fetches ran at once, limit %d", m, limit)
	}
	if got := c.Stats().FetchesRefused; got != domains-limit {
		t.Errorf("Stats().FetchesRefused = %d, want %d", got, domains-limit)
	}
	var fetched int
	for _, d := range names {
		if p, err := c.Lookup(context.Background(), d); err != nil || p == nil {
			t.Errorf("later lookup of %s = %+v, %v", d, p, err)
		}
		fetched += hs.fetchesOf(d)
	}
	if fetched != domains {
		t.Errorf("%d fetches in all, want one per domain (%d)", fetched, domains)
	}
}

// enforcePolicyFor is an enforce policy with MX hosts under domain.
func enforcePolicyFor(domain string, maxAge int) string {
	return fmt.Sprintf("version: STSv1\nmode: enforce\nmx: *.%s\nmax_age: %d\n", domain, maxAge)
}

// Attacker domains with a one-year max_age, looked up through the client, do not push
// out a legitimate policy (one week) that mail keeps going to: it is fetched once.
// 250 domains through a cache of 32 (each costs a TLS handshake; TestCacheFloodKeeps-
// UsedPolicy floods the cache itself with 2,000).
func TestHostileFloodKeepsPolicy(t *testing.T) {
	t.Parallel()
	const attackers, cacheSize, batch = 250, 32, 16
	names := []string{"legit.test"}
	for i := range attackers {
		names = append(names, fmt.Sprintf("a%d.attack.test", i))
	}
	ca := newCA(t)
	hs := startHostileServer(t, ca, func(d string) string {
		if d == "legit.test" {
			return enforcePolicyFor(d, 7*86400)
		}
		return enforcePolicyFor(d, int(mtasts.MaxMaxAge/time.Second))
	})
	c := hostileClient(t, hs, names, func(o *mtasts.Options) { o.CacheSize = cacheSize })
	ctx := context.Background()
	legit := func() {
		t.Helper()
		if p, err := c.Lookup(ctx, "legit.test"); err != nil || p == nil {
			t.Fatalf("legit.test: %+v, %v", p, err)
		}
	}
	legit()
	for i := 1; i < len(names); i += batch {
		var wg sync.WaitGroup
		for _, d := range names[i:min(i+batch, len(names))] {
			wg.Go(func() {
				if p, err := c.Lookup(ctx, d); err != nil || p == nil {
					t.Errorf("%s: %+v, %v", d, p, err)
				}
			})
		}
		wg.Wait()
		legit()
	}
	if n := hs.fetchesOf("legit.test"); n != 1 {
		t.Errorf("legit.test fetched %d times, want 1 (evicted by the flood)", n)
	}
	if ev := c.Stats().Evicted; ev < attackers-cacheSize {
		t.Errorf("Stats().Evicted = %d, want at least %d", ev, attackers-cacheSize)
	}
}
