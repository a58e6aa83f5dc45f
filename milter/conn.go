package milter

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var errTooManyFiles = syscall.EMFILE

// conn is a milter connection that knows whether Postfix is in the middle of
// a message, so that a shutdown closes it only between messages, and that
// enforces an idle timeout (go-milter sets no read deadline of its own).
type conn struct {
	net.Conn
	idle      time.Duration
	inMessage atomic.Bool
	draining  atomic.Bool
	closeOnce sync.Once
	closed    chan struct{}
}

func (c *conn) Read(b []byte) (int, error) {
	if c.idle > 0 {
		c.SetReadDeadline(time.Now().Add(c.idle))
	}
	// Checked after setting the deadline: drain() sets draining before it
	// moves the deadline to now, so one of the two always stops the read.
	if c.draining.Load() && !c.inMessage.Load() {
		return 0, io.EOF
	}
	n, err := c.Conn.Read(b)
	if err != nil && c.draining.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
		// Our own drain deadline: an orderly end, not an error to log.
		err = io.EOF
	}
	return n, err
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() { close(c.closed) })
	return err
}

// drain makes the connection end at the next point between messages.
func (c *conn) drain() {
	c.draining.Store(true)
	if !c.inMessage.Load() {
		c.SetReadDeadline(time.Now())
	}
}

// oneConn is a net.Listener that yields one connection, then blocks until
// that connection is closed: go-milter's Serve then returns, which tells us
// the session is over.
type oneConn struct {
	c    *conn
	once sync.Once
}

func (l *oneConn) Accept() (net.Conn, error) {
	var first bool
	l.once.Do(func() { first = true })
	if first {
		return l.c, nil
	}
	<-l.c.closed
	return nil, net.ErrClosed
}

func (l *oneConn) Close() error   { return nil }
func (l *oneConn) Addr() net.Addr { return l.c.LocalAddr() }
