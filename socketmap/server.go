package socketmap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Handler answers one lookup of key in the map mapName. ctx ends at the request
// deadline (Server.RequestTimeout) or when the server is forced down.
type Handler func(ctx context.Context, mapName, key string) Reply

// Defaults of the Server's tunables.
const (
	DefaultIdleTimeout    = 5 * time.Minute
	DefaultRequestTimeout = 10 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	DefaultMaxRequestSize = 10000
)

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

	handler Handler
	log     *slog.Logger
	ctx     context.Context // parent of every request's context
	cancel  context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]connState
	wg        sync.WaitGroup // one per connection goroutine
}

// NewServer returns a Server calling h for every request, with the default tunables.
// log may be nil (no logging).
func NewServer(h Handler, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		IdleTimeout:    DefaultIdleTimeout,
		RequestTimeout: DefaultRequestTimeout,
		WriteTimeout:   DefaultWriteTimeout,
		MaxRequestSize: DefaultMaxRequestSize,
		handler:        h,
		log:            log,
		ctx:            ctx,
		cancel:         cancel,
		listeners:      map[net.Listener]struct{}{},
		conns:          map[*conn]connState{},
	}
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

// start serves nc in a new goroutine, unless the server is shutting down.
func (s *Server) start(nc net.Conn) {
	c := newConn(s, nc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		nc.Close()
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
