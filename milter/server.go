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
// the connection closes, which is when the Session is closed.
package milter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	gomilter "github.com/emersion/go-milter"

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
	// MaxSessions caps concurrent connections (0: no cap). One more is
	// closed at once; Postfix applies milter_default_action (tempfail by
	// default), so the sender retries and nothing is lost.
	MaxSessions int
	// MaxSessionTime ends a session that lasts longer, at the end of the
	// message it is in (0: no limit). Postfix applies milter_default_action
	// to the rest of that SMTP session: the client retries later.
	MaxSessionTime time.Duration
}

// Server accepts milter connections from Postfix.
type Server struct {
	opts     Options
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	ln       net.Listener
	conns    map[*conn]struct{}
	draining atomic.Bool
	prefix   uint32 // random per process, so session ids from restarts differ
	seq      atomic.Uint64
}

// NewServer returns a Server; call Serve with a listener from Listen.
func NewServer(o Options) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{opts: o, ctx: ctx, cancel: cancel, conns: map[*conn]struct{}{}, prefix: rand.Uint32()}
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
		if !s.track(c) {
			nc.Close()
			continue
		}
		s.wg.Add(1)
		go s.handle(c)
	}
}

// Shutdown stops accepting, lets every session finish the message it is in
// (sessions between messages are closed at once), and after ctx ends closes
// whatever is left. Postfix applies milter_default_action to those.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
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
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	<-done
	return fmt.Errorf("milter shutdown: closed %d sessions still in a message: %w", n, ctx.Err())
}

// ActiveSessions returns the number of open milter connections.
func (s *Server) ActiveSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	if s.opts.MaxSessions > 0 && len(s.conns) >= s.opts.MaxSessions {
		s.opts.Log.Warn("max_sessions reached, connection refused", "max_sessions", s.opts.MaxSessions)
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// handle runs one milter connection to its end.
func (s *Server) handle(c *conn) {
	defer s.wg.Done()
	defer s.untrack(c)
	eng := s.opts.Engine()
	id := fmt.Sprintf("%08x%06x", s.prefix, s.seq.Add(1)&0xffffff)
	sess := eng.NewSession(s.ctx, id)
	defer sess.Close()
	if s.opts.MaxSessionTime > 0 {
		t := time.AfterFunc(s.opts.MaxSessionTime, func() {
			s.opts.Log.Warn("session over max_session_time, ending it after the current message",
				"session", id, "max_session_time", s.opts.MaxSessionTime)
			c.drain()
		})
		defer t.Stop()
	}
	b := &backend{sess: sess, conn: c}
	ms := &gomilter.Server{
		NewMilter: func() gomilter.Milter { return b },
		Actions:   actions,
		Protocol:  protocol(eng.NeedsBody()),
		SymList:   symList,
	}
	// Serve returns once the connection is closed (see oneConn.Accept).
	_ = ms.Serve(&oneConn{c: c})
}
