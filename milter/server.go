// Package milter connects Postfix to the engine over the milter protocol,
// using github.com/emersion/go-milter for the wire format.
//
// go-milter's Server has pitfalls this package works around (see
// docs/DESIGN-NOTES in the repo and the tests): its Close races with Serve,
// it keeps no list of sessions, it never says when a session ends, and after
// an accept/reject/tempfail reply it silently replaces the session's state.
// So this package owns the listener and runs one go-milter Server per
// accepted connection, over a listener that yields just that connection: the
// backend of a connection is always the same Session, and Serve returns when
// go-milter's goroutine for the connection is done with it, which is when
// the Session is closed (never while a callback may still use it).
//
// A connection is a session only once it has sent its option negotiation:
// Postfix negotiates the moment it connects, while a connection that never
// does (anyone on the host can open one to an inet: socket) must not hold
// a max_sessions slot. Those wait in a small pool of their own
// (max_unnegotiated, oldest closed first) for negotiate_timeout at most.
package milter

import (
	"bufio"
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	gomilter "github.com/emersion/go-milter"
	"github.com/prometheus/client_golang/prometheus"

	"spamgate/engine"
)

// Options configure a Server.
type Options struct {
	// Engine returns the engine new sessions use; after a reload it returns
	// the new one while sessions in flight keep theirs.
	Engine func() *engine.Engine
	Log    *slog.Logger
	// IdleTimeout closes a connection on which nothing arrived for this long.
	IdleTimeout time.Duration
	// MaxSessions caps concurrent sessions, connections that negotiated
	// (0: no cap). One more is closed when it negotiates; Postfix applies
	// milter_default_action (tempfail by default), so the sender retries
	// and nothing is lost.
	MaxSessions int
	// MaxSessionTime ends a session that lasts longer, at the end of the
	// message it is in (0: no limit). Postfix applies milter_default_action
	// to the rest of that SMTP session: the client retries later.
	MaxSessionTime time.Duration
	// NegotiateTimeout closes a connection whose option negotiation has
	// not arrived this long after it was accepted (0: DefaultNegotiateTimeout).
	NegotiateTimeout time.Duration
	// MaxUnnegotiated caps connections still waiting for their option
	// negotiation (0: DefaultMaxUnnegotiated). At the cap the oldest is
	// closed to make room: Postfix's connections negotiate within a
	// millisecond, so the oldest waiting one is almost surely idle.
	MaxUnnegotiated int
	// MaxSessionsPerPeer caps the sessions of one TCP peer address (0: no
	// cap). Postfix on the same host shares 127.0.0.1 with every local
	// user, so it is for listeners that several hosts reach.
	MaxSessionsPerPeer int
	// Registerer, when set, gets the server's metrics.
	Registerer prometheus.Registerer
}

// Defaults of the negotiation limits, also [milter]'s.
const (
	DefaultNegotiateTimeout = 5 * time.Second
	DefaultMaxUnnegotiated  = 256
)

// refusalLogEvery is how often one kind of refusal is logged at most; the
// count of refusals in between goes into the next line (and every one into
// the metric). A flood of refused connections is what these limits are
// for, and it must not become a flood of log lines.
const refusalLogEvery = 10 * time.Second

// Reasons a connection is refused or closed early (metric label values).
const (
	reasonMaxSessions     = "max_sessions"
	reasonMaxPerPeer      = "max_sessions_per_peer"
	reasonMaxUnnegotiated = "max_unnegotiated"
	reasonNegotiate       = "negotiate_timeout"
	reasonBadNegotiation  = "bad_negotiation"
)

// Server accepts milter connections from Postfix.
type Server struct {
	opts     Options
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	ln       net.Listener
	conns    map[*conn]struct{} // sessions: negotiated connections
	pending  *list.List         // of *conn, not negotiated yet, oldest first
	perPeer  map[netip.Addr]int // sessions per TCP peer address
	draining atomic.Bool
	prefix   uint32 // random per process, so session ids from restarts differ
	seq      atomic.Uint64
	refused  *prometheus.CounterVec
	limitLog *rateLog
	// readers are the connections' 8 KiB read buffers, reused: one new
	// per connection was a quarter of the bytes a message allocates.
	readers sync.Pool
	// onRcpt, when set (tests only), runs as a RCPT callback starts: it
	// tells a test that a callback is in progress.
	onRcpt func()
}

// NewServer returns a Server; call Serve with a listener from Listen.
func NewServer(o Options) *Server {
	if o.NegotiateTimeout <= 0 {
		o.NegotiateTimeout = DefaultNegotiateTimeout
	}
	if o.MaxUnnegotiated <= 0 {
		o.MaxUnnegotiated = DefaultMaxUnnegotiated
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts: o, ctx: ctx, cancel: cancel, prefix: rand.Uint32(),
		conns: map[*conn]struct{}{}, pending: list.New(), perPeer: map[netip.Addr]int{},
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "spamgate", Name: "milter_connections_refused_total",
			Help: "Milter connections refused or closed before becoming a session, by reason " +
				"(max_sessions, max_sessions_per_peer, max_unnegotiated, negotiate_timeout, bad_negotiation).",
		}, []string{"reason"}),
		limitLog: newRateLog(o.Log, refusalLogEvery),
	}
	for _, r := range []string{reasonMaxSessions, reasonMaxPerPeer, reasonMaxUnnegotiated, reasonNegotiate, reasonBadNegotiation} {
		s.refused.WithLabelValues(r) // every reason shows, at 0, from the start
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(s.refused)
	}
	return s
}

// Serve accepts connections until Shutdown; it then returns nil.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	// Shutdown sets draining before it takes the lock to close s.ln: it
	// either found the listener stored above, or it ran first (a SIGTERM
	// during start-up) and this sees the flag.
	if s.draining.Load() {
		ln.Close()
		return nil
	}
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.draining.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Out of file descriptors and the like: wait, do not spin.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.opts.Log.Warn("accept failed, retrying", "error", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("milter accept: %w", err)
		}
		backoff = 0
		c := newConn(nc, s.opts.IdleTimeout)
		c.negotiateBy = time.Now().Add(s.opts.NegotiateTimeout)
		if !s.addPending(c) {
			nc.Close()
			continue
		}
		go s.handle(c)
	}
}

// Shutdown stops accepting, lets every session finish the message it is in
// (sessions between messages are closed at once, connections that have not
// negotiated too), and after ctx ends closes whatever is left. Postfix
// applies milter_default_action to those.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	for e := s.pending.Front(); e != nil; e = e.Next() {
		e.Value.(*conn).abort()
	}
	for c := range s.conns {
		c.drain()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	n := len(s.conns)
	for c := range s.conns {
		// Only the socket: a callback may be running, and the session is
		// closed after it, on the connection's own goroutine.
		c.abort()
	}
	s.mu.Unlock()
	// Lookups in progress end now, so the callbacks waiting for them return.
	s.cancel()
	<-done
	return fmt.Errorf("milter shutdown: closed %d sessions still in a message: %w", n, ctx.Err())
}

// ActiveSessions returns the number of sessions (negotiated connections).
func (s *Server) ActiveSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// addPending registers a new connection as waiting for its negotiation,
// closing the oldest waiting one when there are MaxUnnegotiated already.
func (s *Server) addPending(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	if s.pending.Len() >= s.opts.MaxUnnegotiated {
		old := s.pending.Remove(s.pending.Front()).(*conn)
		old.pending = nil
		old.evicted.Store(true)
		old.abort() // its handler counts and logs it
	}
	c.pending = s.pending.PushBack(c)
	// Under the lock: Shutdown's Wait starts after it has seen draining.
	s.wg.Add(1)
	return true
}

// admit ends the wait of c, whose negotiation arrived (err nil) or failed,
// and makes it a session if the limits allow. It returns the reason c was
// refused ("" for none), and whether the refusal is worth counting.
func (s *Server) admit(c *conn, peer netip.Addr, err error) (reason string, count bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.pending != nil {
		s.pending.Remove(c.pending)
		c.pending = nil
	}
	switch {
	case c.evicted.Load():
		return reasonMaxUnnegotiated, true
	case s.draining.Load():
		return "shutting down", false
	case errors.Is(err, os.ErrDeadlineExceeded):
		return reasonNegotiate, true
	case errors.Is(err, errNotOptNeg):
		return reasonBadNegotiation, true
	case err != nil:
		// Closed before negotiating: a port probe, a monitoring check.
		// It held nothing; not a refusal.
		return "closed before negotiating", false
	case s.opts.MaxSessions > 0 && len(s.conns) >= s.opts.MaxSessions:
		return reasonMaxSessions, true
	case s.opts.MaxSessionsPerPeer > 0 && peer.IsValid() && s.perPeer[peer] >= s.opts.MaxSessionsPerPeer:
		return reasonMaxPerPeer, true
	}
	s.conns[c] = struct{}{}
	if peer.IsValid() {
		s.perPeer[peer]++
	}
	return "", false
}

func (s *Server) untrack(c *conn, peer netip.Addr) {
	s.mu.Lock()
	delete(s.conns, c)
	if peer.IsValid() {
		if s.perPeer[peer] <= 1 {
			delete(s.perPeer, peer)
		} else {
			s.perPeer[peer]--
		}
	}
	s.mu.Unlock()
}

// negotiate waits for c's option negotiation and admits it as a session,
// or closes it and says why.
func (s *Server) negotiate(c *conn, peer netip.Addr) bool {
	err := c.awaitOptNeg()
	reason, count := s.admit(c, peer, err)
	if reason == "" {
		return true
	}
	if !count {
		c.Conn.Close()
		s.opts.Log.Debug("milter connection closed before its session began", "reason", reason,
			"peer", c.RemoteAddr().String(), "error", err)
		return false
	}
	// Counted before the close, so that whoever sees the refusal finds it
	// in the metric already.
	s.refused.WithLabelValues(reason).Inc()
	c.Conn.Close()
	s.limitLog.warn(reason, "milter connection refused", "reason", reason, "peer", c.RemoteAddr().String(),
		"limit", s.limit(reason))
	return false
}

// limit is the setting behind a refusal, for the log.
func (s *Server) limit(reason string) any {
	switch reason {
	case reasonMaxSessions:
		return s.opts.MaxSessions
	case reasonMaxPerPeer:
		return s.opts.MaxSessionsPerPeer
	case reasonMaxUnnegotiated:
		return s.opts.MaxUnnegotiated
	case reasonNegotiate:
		return s.opts.NegotiateTimeout
	}
	return nil
}

// peerAddr is the address a TCP peer's sessions are counted under; none
// for a unix socket.
func peerAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// handle runs one milter connection to its end.
func (s *Server) handle(c *conn) {
	defer s.wg.Done()
	// Only this goroutine reads c: once it returns, the buffer is free.
	c.br = s.reader(c)
	defer s.readers.Put(c.br)
	peer := peerAddr(c.Conn)
	if !s.negotiate(c, peer) {
		return
	}
	// Only a session gets the stack: a connection that never negotiates
	// (max_unnegotiated of them may wait) keeps the small one.
	growStack(0) // see stackReserve
	defer s.untrack(c, peer)
	eng := s.opts.Engine()
	id := fmt.Sprintf("%08x%06x", s.prefix, s.seq.Add(1)&0xffffff)
	sess := eng.NewSession(s.ctx, id)
	// Runs after ServeConn returned: after the last callback.
	defer sess.Close()
	if s.opts.MaxSessionTime > 0 {
		t := time.AfterFunc(s.opts.MaxSessionTime, func() {
			s.opts.Log.Warn("session over max_session_time, ending it after the current message",
				"session", id, "max_session_time", s.opts.MaxSessionTime)
			c.drain()
		})
		defer t.Stop()
	}
	b := &backend{sess: sess, conn: c, onRcpt: s.onRcpt}
	ms := &gomilter.Server{
		NewMilter: func() gomilter.Milter { return b },
		Actions:   actions,
		Protocol:  protocol(eng.NeedsBody()),
		SymList:   symList,
	}
	// ServeConn (our patch of go-milter, third_party/go-milter) serves
	// the connection on this goroutine and returns after its last callback,
	// once it has closed the connection.
	ms.ServeConn(c)
}

// stackReserve is stack a session's goroutine takes at its start, while
// its stack is still shallow and cheap to copy: the callbacks of a message
// (go-milter, the engine, DKIM, DMARC) need about 32 KiB, and a goroutine
// that grows there by doubling copies its deeper and deeper stack three
// times per connection. That copying was 7 % of spamgate's CPU behind
// Postfix (perf), and the pre-growth takes the milter benchmark's
// morestack share from 4.3 % to 1.1 %. The stack is no bigger than the
// session would have grown it to anyway.
const stackReserve = 16 << 10

// growStack needs a frame of stackReserve bytes, so the runtime grows the
// stack to hold it in one step. It is not inlined, and its result depends
// on buf, so the compiler keeps the frame.
//
//go:noinline
func growStack(i int) byte {
	var buf [stackReserve]byte
	buf[i] = 1
	return buf[(i*7)%len(buf)]
}

// reader gives a read buffer for c, reused from an earlier connection
// when one is free.
func (s *Server) reader(c *conn) *bufio.Reader {
	if br, ok := s.readers.Get().(*bufio.Reader); ok {
		br.Reset(socketReader{c})
		return br
	}
	return bufio.NewReaderSize(socketReader{c}, readBufferSize)
}

// rateLog logs each kind of event at most once per interval, with the
// number of events left unlogged since the previous line.
type rateLog struct {
	log        *slog.Logger
	every      time.Duration
	now        func() time.Time // time.Now; tests step a clock instead
	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

func newRateLog(log *slog.Logger, every time.Duration) *rateLog {
	return &rateLog{log: log, every: every, now: time.Now, last: map[string]time.Time{}, suppressed: map[string]int{}}
}

// warn logs msg with args unless a line of this kind went out less than
// an interval ago; it reports whether it logged.
func (l *rateLog) warn(kind, msg string, args ...any) bool {
	now := l.now()
	l.mu.Lock()
	if t, ok := l.last[kind]; ok && now.Sub(t) < l.every {
		l.suppressed[kind]++
		l.mu.Unlock()
		return false
	}
	n := l.suppressed[kind]
	l.suppressed[kind] = 0
	l.last[kind] = now
	l.mu.Unlock()
	l.log.Warn(msg, append(args, "suppressed_since_last", n)...)
	return true
}
