package dnsx_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"spamgate/dnsx"
	"spamgate/dnsx/dnstest"
)

// testZone is the data most tests resolve against.
const testZone = `$ORIGIN example.test.
$TTL 300
@         MX    20 mx2
@         MX    10 mx1
@         MX    20 mx3
@         TXT   "v=spf1 " "ip4:192.0.2.0/24 " "-all"
@         A     192.0.2.10
@         AAAA  2001:db8::10
mx1       A     192.0.2.1
v4only    A     192.0.2.4
v6only    AAAA  2001:db8::6
nullmx    MX    0 .
escaped   TXT   "q\"b\\x\255\000y"
multi     TXT   "one"
multi     TXT   "two"
alias     CNAME alias2
alias2    CNAME mx1
txtalias  CNAME @
deadend   CNAME gone.example.test.
sp\ ace   TXT   "odd name"
1.2.0.192.in-addr.arpa. PTR mx1
6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. PTR v6only
`

// testTimeout is the per-attempt timeout of test resolvers: short, so
// that failover and timeout tests are fast, but far above loopback RTTs.
const testTimeout = 250 * time.Millisecond

// start serves zone text on loopback.
func start(t testing.TB, text string) (*dnstest.Server, *dnstest.Zone) {
	t.Helper()
	z := dnstest.NewZone()
	if err := z.AddText(text); err != nil {
		t.Fatal(err)
	}
	return dnstest.Start(t, z), z
}

// newResolver returns a resolver for servers, with test defaults for the
// zero fields of cfg.
func newResolver(t testing.TB, cfg dnsx.Config, servers ...string) *dnsx.Resolver {
	t.Helper()
	cfg.Nameservers = servers
	if cfg.Timeout == 0 {
		cfg.Timeout = testTimeout
	}
	r, err := dnsx.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// setup is the common case: testZone behind one server, default cache.
func setup(t testing.TB) (*dnsx.Resolver, *dnstest.Server, *dnstest.Zone) {
	t.Helper()
	s, z := start(t, testZone)
	return newResolver(t, dnsx.Config{}, s.Addr), s, z
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// dnsError asserts that err is a bare *net.DNSError, as go-msgauth and
// the SPF library need (they use a type assertion, not errors.As).
func dnsError(t testing.TB, err error) *net.DNSError {
	t.Helper()
	de, ok := err.(*net.DNSError)
	if !ok {
		t.Fatalf("error %T (%v) is not a bare *net.DNSError", err, err)
	}
	return de
}

// rawServer answers UDP queries on loopback with whatever reply returns
// for them (nil: no answer), to produce answers dnstest would never send.
func rawServer(t testing.TB, reply func(q *dns.Msg) []byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			q := new(dns.Msg)
			if err != nil || q.Unpack(buf[:n]) != nil {
				continue
			}
			if b := reply(q); b != nil {
				_, _ = pc.WriteTo(b, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// packReply builds the reply to q with rcode and sections, packed.
func packReply(t testing.TB, q *dns.Msg, rcode int, answer, ns []dns.RR) []byte {
	t.Helper()
	m := new(dns.Msg).SetRcode(q, rcode)
	m.Answer, m.Ns = answer, ns
	b, err := m.Pack()
	if err != nil {
		t.Error(err)
	}
	return b
}

// closedPort returns a loopback UDP address nobody listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

func rr(t testing.TB, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
