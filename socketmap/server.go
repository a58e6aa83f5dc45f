package socketmap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Handler answers one lookup of key in the map mapName. ctx ends at the request
// deadline (Server.RequestTimeout) or when the server is forced down.
type Handler func(ctx context.Context, mapName, key string) Reply

// Defaults of the Server's tunables. Postfix itself closes a socketmap
// connection after 10 s idle and 100 s of age (dict_sockmap.c,
// DICT_SOCKMAP_DEF_MAX_IDLE and _MAX_TTL) and reconnects when it needs the
// map: the limits below only ever cut off clients that are not Postfix.
const (
	DefaultIdleTimeout    = time.Minute
	DefaultRequestTimeout = 10 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	DefaultMaxRequestSize = 10000
	// DefaultMaxConnections: Postfix opens one connection per process
	// that uses the map (smtp delivery agents, default_process_limit
	// 100), so twice that.
	DefaultMaxConnections = 200
	DefaultMaxLifetime    = 10 * time.Minute
)

// refusalLogEvery: refused connections are logged at most this often,
// with the count since the last line.
const refusalLogEvery = time.Minute

// Server serves the socketmap protocol. Set its exported fields, if at all, before the
// first Serve.
type Server struct {
	// IdleTimeout closes a connection on which no request arrives for this long.
	// Postfix reconnects when it needs the map again.
	IdleTimeout time.Duration
	// RequestTimeout bounds one lookup (the handler) and the reading of a request once
	// its first byte arrived; a handler that overruns gets a TIMEOUT reply sent for it.
	RequestTimeout time.Duration
	// WriteTimeout bounds the sending of one reply.
	WriteTimeout time.Duration
	// MaxRequestSize is the longest request ("NAME KEY") accepted, in bytes; a longer
	// one is a protocol error and closes the connection.
	MaxRequestSize int
	// MaxConnections caps the open connections (all listeners together); one
	// over it is closed as soon as it is accepted, counted and logged. Every
	// connection is a file descriptor the milter, DNS, Redis and LDAP need too.
	MaxConnections int
	// MaxLifetime closes a connection this long after it was accepted, once its
	// request in progress is answered: requests renew IdleTimeout, not this.
	MaxLifetime time.Duration

	handler Handler
	log     *slog.Logger
	ctx     context.Context // parent of every request's context
	cancel  context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]connState
	wg        sync.WaitGroup // one per connection goroutine

	refused, expired atomic.Uint64
	collectors       []prometheus.Collector
	refusedLog       rateLog
}

// NewServer returns a Server calling h for every request, with the default tunables.
// log may be nil (no logging).
func NewServer(h Handler, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		IdleTimeout:    DefaultIdleTimeout,
		RequestTimeout: DefaultRequestTimeout,
		WriteTimeout:   DefaultWriteTimeout,
		MaxRequestSize: DefaultMaxRequestSize,
		MaxConnections: DefaultMaxConnections,
		MaxLifetime:    DefaultMaxLifetime,
		handler:        h,
		log:            log,
		ctx:            ctx,
		cancel:         cancel,
		listeners:      map[net.Listener]struct{}{},
		conns:          map[*conn]connState{},
		refusedLog:     rateLog{every: refusalLogEvery},
	}
	s.collectors = s.newCollectors()
	return s
}

// newCollectors makes the metrics read from the server at scrape time.
func (s *Server) newCollectors() []prometheus.Collector {
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "spamgate", Subsystem: "tls_policy_map", Name: name, Help: help}
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("connections", "Socketmap connections open.")),
			func() float64 { return float64(s.Stats().Open) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("connections_refused_total",
			"Socketmap connections closed at accept because max_connections were open.")),
			func() float64 { return float64(s.refused.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("connections_expired_total",
			"Socketmap connections closed after max_lifetime.")),
			func() float64 { return float64(s.expired.Load()) }),
	}
}

// Collectors are the server's metrics (spamgate_tls_policy_map_*), for the
// caller's registry.
func (s *Server) Collectors() []prometheus.Collector { return s.collectors }

// Stats are a Server's connection counters.
type Stats struct {
	Open             int    // connections open now
	Refused, Expired uint64 // since NewServer
}

// Stats returns the connection counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	open := len(s.conns)
	s.mu.Unlock()
	return Stats{Open: open, Refused: s.refused.Load(), Expired: s.expired.Load()}
}

// Serve accepts connections on ln and serves each in its own goroutine. It returns nil
// after Shutdown (at once, closing ln, if Shutdown came first), and an error if ln
// fails otherwise. Serve may be called for several listeners (say inet and unix).
func (s *Server) Serve(ln net.Listener) error {
	if !s.addListener(ln) {
		ln.Close()
		return nil
	}
	defer s.removeListener(ln)
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("socketmap: accept on %s: %w", ln.Addr(), err)
			}
			// Out of file descriptors and the like: wait, do not spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("socketmap: accept failed, retrying", "addr", ln.Addr().String(), "error", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.start(nc)
	}
}

// start serves nc in a new goroutine, unless the server is shutting down or
// has MaxConnections open: then nc is closed at once. Postfix sees a lookup
// error and defers the delivery; it is retried, not lost.
func (s *Server) start(nc net.Conn) {
	c := newConn(s, nc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		nc.Close()
		return
	}
	if len(s.conns) >= s.MaxConnections {
		nc.Close()
		s.refused.Add(1)
		if n, ok := s.refusedLog.due(time.Now()); ok {
			s.log.Warn("socketmap: connections refused: max_connections open", "max_connections", s.MaxConnections,
				"refused", n, "last_client", nc.RemoteAddr().String())
		}
		return
	}
	s.conns[c] = stateIdle
	s.wg.Add(1)
	go c.serve()
}

// Shutdown stops accepting, closes idle connections at once and lets connections in
// the middle of a request send their reply and close. If ctx ends first, it closes
// the rest, cancels the handlers' contexts and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginShutdown()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	defer s.cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	n := s.closeAll()
	s.cancel() // now, not deferred: handlers still running must see it to let go
	<-done
	return fmt.Errorf("socketmap: shutdown: closed %d connections in a request: %w", n, ctx.Err())
}

func (s *Server) beginShutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c, st := range s.conns {
		if st == stateIdle {
			c.nc.Close()
		}
	}
}

// closeAll closes every connection left and returns how many there were.
func (s *Server) closeAll() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.nc.Close()
	}
	return len(s.conns)
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Server) addListener(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.listeners[ln] = struct{}{}
	return true
}

func (s *Server) removeListener(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listeners, ln)
}

// setState records c's state and reports whether c may go on: a connection that
// Shutdown has seen idle was closed by it and must stop.
func (s *Server) setState(c *conn, st connState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = st
	return true
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// rateLog lets an event be logged at most once per every, with the number
// of events since the last line.
type rateLog struct {
	mu      sync.Mutex
	every   time.Duration
	last    time.Time
	pending uint64
}

// due counts one event and reports whether to log now, with the count.
func (r *rateLog) due(now time.Time) (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending++
	if !r.last.IsZero() && now.Sub(r.last) < r.every {
		return 0, false
	}
	n := r.pending
	r.last, r.pending = now, 0
	return n, true
}
