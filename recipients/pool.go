package recipients

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/go-ldap/ldap/v3"
)

// pool lends connections one caller at a time. go-ldap multiplexes a Conn,
// but lending it exclusively keeps the error handling simple: whoever saw
// a connection fail can throw it away without hurting another caller's
// request. Connections are dialed when first needed and redialed after an
// error, so an outage heals without a restart. The most recently used
// connection is lent first, so that a quiet milter keeps one connection
// open, not PoolSize.
type pool struct {
	sem    chan struct{} // one token per slot in use
	mu     sync.Mutex
	idle   []*slot // live connections last, empty slots first
	dial   func(ctx context.Context) (*ldap.Conn, error)
	closed atomic.Bool
}

// slot holds one connection, or nil when it is to be dialed.
type slot struct{ conn *ldap.Conn }

var errClosed = errors.New("validator closed")

func newPool(size int, dial func(ctx context.Context) (*ldap.Conn, error)) *pool {
	p := &pool{sem: make(chan struct{}, size), dial: dial}
	for range size {
		p.idle = append(p.idle, &slot{})
	}
	return p
}

// get waits for a free slot; the one on top of idle is the best.
func (p *pool) get(ctx context.Context) (*slot, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.idle[len(p.idle)-1]
	p.idle = p.idle[:len(p.idle)-1]
	return s, nil
}

func (p *pool) put(s *slot) {
	p.mu.Lock()
	if s.conn != nil {
		p.idle = append(p.idle, s)
	} else {
		p.idle = append([]*slot{s}, p.idle...)
	}
	p.mu.Unlock()
	<-p.sem
}

// do runs fn on a connection. fn's error is returned as it is; when it is
// not a plain LDAP result from the server (a network error, a timeout, a
// cancelled ctx), the connection is closed so that the next use redials.
func (p *pool) do(ctx context.Context, fn func(*ldap.Conn) error) error {
	s, err := p.get(ctx)
	if err != nil {
		return err
	}
	defer p.put(s)
	if p.closed.Load() {
		return errClosed
	}
	if s.conn != nil && s.conn.IsClosing() { // the server hung up since
		s.drop()
	}
	if s.conn == nil {
		c, err := p.dial(ctx)
		if err != nil {
			return err
		}
		s.conn = c
	}
	err = fn(s.conn)
	if err != nil && !isServerResult(err) {
		s.drop()
	}
	return err
}

func (s *slot) drop() {
	_ = s.conn.Close()
	s.conn = nil
}

// isServerResult tells an answer the server gave on a working connection
// (no such object, size limit, busy) from a failure of the connection.
func isServerResult(err error) bool {
	var le *ldap.Error
	return errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork
}

// close waits for the connections in use and closes all of them.
func (p *pool) close() {
	if p.closed.Swap(true) {
		return
	}
	for range cap(p.sem) { // wait for the lookups in flight
		p.sem <- struct{}{}
	}
	for _, s := range p.idle {
		if s.conn != nil {
			s.drop()
		}
	}
}
