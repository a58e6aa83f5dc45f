package mtasts_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"spamgate/dnsx"
	"spamgate/dnsx/dnstest"
	"spamgate/internal/logbuf"
	"spamgate/mtasts"
)

// The policy domain of the tests and its policy host.
const (
	domain     = "example.test"
	policyHost = "mta-sts.example.test"
	policyPath = "/.well-known/mta-sts.txt"
)

// Policies the test server serves.
const (
	enforcePolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.mx.example.test\r\nmax_age: 604800\r\n"
	testingPolicy = "version: STSv1\nmode: testing\nmx: mx1.example.test\nmax_age: 86400\n"
	nonePolicy    = "version: STSv1\nmode: none\nmax_age: 86400\n"
)

// zoneWith is the DNS of the tests: the TXT record with that id (none for "") and the
// policy host on 127.0.0.1.
func zoneWith(id string) string {
	z := "mta-sts.example.test. 60 IN A 127.0.0.1\n"
	if id != "" {
		z += `_mta-sts.example.test. 60 IN TXT "v=STSv1; id=` + id + `;"` + "\n"
	}
	return z
}

// testCA issues certificates for the test servers.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t testing.TB) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "spamgate test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns a server certificate for name, valid from notBefore to notAfter.
func (ca *testCA) issue(t testing.TB, name string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (ca *testCA) valid(t testing.TB, name string) tls.Certificate {
	return ca.issue(t, name, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// policyServer is an HTTPS server on 127.0.0.1 that serves what the test sets.
type policyServer struct {
	*httptest.Server
	port     int
	requests atomic.Int32

	mu       sync.Mutex
	status   int
	ctype    string
	body     string
	location string        // for 3xx
	delay    time.Duration // before answering
	hosts    []string      // Host and path of each request
}

// startPolicyServer serves body as an enforce-style policy with cert until the test ends.
func startPolicyServer(t testing.TB, cert tls.Certificate, body string) *policyServer {
	t.Helper()
	ps := &policyServer{status: http.StatusOK, ctype: "text/plain; charset=utf-8", body: body}
	ps.Server = httptest.NewUnstartedServer(http.HandlerFunc(ps.serve))
	ps.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	ps.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	ps.StartTLS()
	t.Cleanup(ps.Close)
	ps.port = ps.Listener.Addr().(*net.TCPAddr).Port
	return ps
}

func (ps *policyServer) serve(w http.ResponseWriter, r *http.Request) {
	ps.requests.Add(1)
	ps.mu.Lock()
	status, ctype, body, location, delay := ps.status, ps.ctype, ps.body, ps.location, ps.delay
	ps.hosts = append(ps.hosts, r.Host+r.URL.Path)
	ps.mu.Unlock()
	select {
	case <-time.After(delay):
	case <-r.Context().Done():
		// Returning would make net/http send an empty "200 OK", which a
		// client still waiting could read as the answer: abort instead.
		panic(http.ErrAbortHandler)
	}
	if location != "" {
		w.Header().Set("Location", location)
	}
	w.Header().Set("Content-Type", ctype)
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// set changes what the server answers.
func (ps *policyServer) set(f func(ps *policyServer)) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	f(ps)
}

func (ps *policyServer) requested() []string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]string(nil), ps.hosts...)
}

// switchDNS is a Resolver whose DNS data the test replaces at will, each version
// served by its own dnstest server (dnstest zones only grow).
type switchDNS struct {
	t   testing.TB
	cur atomic.Pointer[dnsx.Resolver]
}

func newSwitchDNS(t testing.TB, zone string) *switchDNS {
	d := &switchDNS{t: t}
	d.set(zone)
	return d
}

// set serves zone from now on.
func (d *switchDNS) set(zone string) *dnstest.Zone {
	d.t.Helper()
	z := dnstest.NewZone()
	if err := z.AddText(zone); err != nil {
		d.t.Fatal(err)
	}
	srv := dnstest.Start(d.t, z)
	r, err := dnsx.New(dnsx.Config{Nameservers: []string{srv.Addr}, CacheSize: -1, Timeout: time.Second})
	if err != nil {
		d.t.Fatal(err)
	}
	d.cur.Store(r)
	return z
}

// servfail makes the TXT lookup fail with SERVFAIL from now on.
func (d *switchDNS) servfail() {
	d.set(zoneWith("")).ServFail("_mta-sts."+domain, 16 /* TXT */)
}

func (d *switchDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return d.cur.Load().LookupTXT(ctx, name)
}

func (d *switchDNS) LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return d.cur.Load().LookupIP(ctx, network, host)
}

// clock is the client's time, moved by the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logBuffer collects the client's log lines for assertions. It is written after the
// test log, so a line seen here is done with t.Log.
type logBuffer = logbuf.Buffer

func logsContain(l *logBuffer, s string) bool { return strings.Contains(l.String(), s) }

// rig is one test's world: CA, policy server, DNS, clock, logs and client.
type rig struct {
	ca     *testCA
	server *policyServer
	dns    *switchDNS
	clock  *clock
	logs   *logBuffer
	client *mtasts.Client
}

// newRig serves policy for example.test with TXT id "1"; adjust changes the client's
// options before New.
func newRig(t *testing.T, policy string, adjust func(*mtasts.Options)) *rig {
	t.Helper()
	ca := newCA(t)
	r := &rig{ca: ca, clock: newClock(), logs: &logBuffer{}}
	r.server = startPolicyServer(t, ca.valid(t, policyHost), policy)
	r.dns = newSwitchDNS(t, zoneWith("1"))
	o := mtasts.Options{
		Resolver: r.dns,
		RootCAs:  ca.pool,
		Port:     r.server.port,
		Timeout:  2 * time.Second,
		Now:      r.clock.Now,
		Log:      slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, r.logs), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if adjust != nil {
		adjust(&o)
	}
	r.client = mtasts.New(o)
	return r
}

// lookup calls Lookup with a generous deadline.
func (r *rig) lookup(t *testing.T) (*mtasts.Policy, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.client.Lookup(ctx, domain)
}

// mustLookup expects a policy with TXT id and mode.
func (r *rig) mustLookup(t *testing.T, id, mode string) *mtasts.Policy {
	t.Helper()
	p, err := r.lookup(t)
	if err != nil || p == nil {
		t.Fatalf("Lookup = %+v, %v; want a policy", p, err)
	}
	if p.ID != id || p.Mode != mode {
		t.Fatalf("Lookup = id %q mode %q, want id %q mode %q", p.ID, p.Mode, id, mode)
	}
	return p
}

// mustNone expects no policy and no error.
func (r *rig) mustNone(t *testing.T) {
	t.Helper()
	if p, err := r.lookup(t); p != nil || err != nil {
		t.Fatalf("Lookup = %+v, %v; want nil, nil", p, err)
	}
}

func (r *rig) fetches() int { return int(r.server.requests.Load()) }

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
