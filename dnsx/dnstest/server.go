package dnstest

import (
	"context"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Server serves a Zone on loopback. Its setters are safe to call while it
// runs.
type Server struct {
	// Addr is "127.0.0.1:PORT"; UDP and TCP listen on the same port.
	Addr string

	zone     *Zone
	queries  atomic.Int64
	inFlight atomic.Int64 // queries received and not yet answered or given up
	// maxInFlight is the high-water mark of inFlight.
	maxInFlight atomic.Int64
	delay       atomic.Int64 // time.Duration
	truncUDP    atomic.Bool
	stop        chan struct{} // closed on cleanup: ends pending delays

	dropMu   sync.Mutex
	dropRate float64
	rng      *rand.Rand // seeded: a given drop rate drops the same queries every run
}

// listenAttempts bounds the search for a port free on both UDP and TCP.
const listenAttempts = 20

// Start serves z on 127.0.0.1 (UDP and TCP, same port) until the test ends.
func Start(t testing.TB, z *Zone) *Server {
	t.Helper()
	pc, ln := listen(t)
	s := &Server{
		Addr: pc.LocalAddr().String(),
		zone: z,
		stop: make(chan struct{}),
		rng:  rand.New(rand.NewPCG(1, 2)),
	}
	h := dns.HandlerFunc(s.serveDNS)
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	serve(t, udp)
	serve(t, tcp)
	t.Cleanup(func() {
		close(s.stop)
		shutdown(t, udp)
		shutdown(t, tcp)
	})
	return s
}

// listen opens UDP on an ephemeral port, then TCP on the same port; if that
// TCP port is taken, it starts over with another UDP port.
func listen(t testing.TB) (net.PacketConn, net.Listener) {
	t.Helper()
	for range listenAttempts {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("dnstest: listen udp: %v", err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln
		}
		pc.Close()
	}
	t.Fatalf("dnstest: no port free on both UDP and TCP after %d attempts", listenAttempts)
	return nil, nil
}

// serve starts srv and waits until it runs, so that Shutdown cannot race
// with the start.
func serve(t testing.TB, srv *dns.Server) {
	t.Helper()
	started := make(chan struct{})
	failed := make(chan error, 1)
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { failed <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-failed:
		t.Fatalf("dnstest: serve: %v", err)
	}
}

func shutdown(t testing.TB, srv *dns.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.ShutdownContext(ctx); err != nil {
		t.Errorf("dnstest: shutdown: %v", err)
	}
}

// SetDelay delays every answer by d (0: none).
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// SetDropRate drops that share (0 to 1) of the queries, unanswered. The
// random source is seeded, so a test sees the same drops every run.
func (s *Server) SetDropRate(p float64) {
	s.dropMu.Lock()
	defer s.dropMu.Unlock()
	s.dropRate = p
}

// SetTruncateUDP makes every UDP answer an empty one with TC=1, so that
// clients must retry over TCP.
func (s *Server) SetTruncateUDP(on bool) { s.truncUDP.Store(on) }

// Queries is the number of queries received, over both transports,
// including dropped and unanswered ones.
func (s *Server) Queries() int64 { return s.queries.Load() }

// MaxInFlight is the most queries the server has held at once: received,
// and not yet answered (or dropped, or left unanswered by a Timeout rule).
// With SetDelay it shows how many queries a client keeps outstanding.
func (s *Server) MaxInFlight() int64 { return s.maxInFlight.Load() }

// ResetMaxInFlight starts a new high-water mark from the queries in flight now.
func (s *Server) ResetMaxInFlight() { s.maxInFlight.Store(s.inFlight.Load()) }
