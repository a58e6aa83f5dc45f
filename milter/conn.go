package milter

import (
	"bufio"
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
// Reads are buffered: go-milter reads every packet in two small reads
// (length, then payload), and Postfix sends the no-reply events back to
// back, so one system call now fetches several packets. Writes are held
// until spamgate next waits for Postfix, or closes: go-milter writes every
// packet on its own (at end of message one per header edit, then the
// reply), and Postfix is waiting for the last of them anyway, so one system
// call sends them all.
type conn struct {
	net.Conn
	br        *bufio.Reader
	wmu       sync.Mutex // Close may come from Shutdown's goroutine
	wbuf      []byte
	idle      time.Duration
	inMessage atomic.Bool
	draining  atomic.Bool
	closeOnce sync.Once
	closed    chan struct{}
}

func newConn(nc net.Conn, idle time.Duration) *conn {
	c := &conn{Conn: nc, idle: idle, closed: make(chan struct{})}
	c.br = bufio.NewReaderSize(socketReader{c}, 8<<10)
	return c
}

func (c *conn) Read(b []byte) (int, error) { return c.br.Read(b) }

// Write holds b until flush.
func (c *conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	c.wbuf = append(c.wbuf, b...)
	c.wmu.Unlock()
	return len(b), nil
}

// flush sends what Write held. Postfix waits for a reply before it sends
// anything that needs one, so flushing before every socket read is soon
// enough.
func (c *conn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(c.wbuf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.wbuf)
	c.wbuf = c.wbuf[:0]
	if cap(c.wbuf) > 64<<10 {
		c.wbuf = nil
	}
	return err
}

// drainGrace is how long a draining connection between messages still
// waits for Postfix: a MAIL it sent just before the drain (no reply is
// awaited for it) is already on its way and should be served, not cut off.
const drainGrace = 200 * time.Millisecond

// socketReader is the unbuffered side of conn: deadlines and draining
// apply when spamgate actually waits for Postfix.
type socketReader struct{ c *conn }

func (r socketReader) Read(b []byte) (int, error) {
	c := r.c
	if err := c.flush(); err != nil {
		return 0, err
	}
	if c.idle > 0 {
		c.SetReadDeadline(time.Now().Add(c.idle))
	}
	// Checked after setting the deadline: drain() sets draining before it
	// shortens the deadline, so a drain is never missed.
	if c.draining.Load() && !c.inMessage.Load() {
		c.SetReadDeadline(time.Now().Add(drainGrace))
	}
	n, err := c.Conn.Read(b)
	if err != nil && c.draining.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
		// Our own drain deadline: an orderly end, not an error to log.
		err = io.EOF
	}
	return n, err
}

func (c *conn) Close() error {
	_ = c.flush() // the last reply, when go-milter closes after it
	err := c.Conn.Close()
	c.closeOnce.Do(func() { close(c.closed) })
	return err
}

// drain makes the connection end at the next point between messages.
func (c *conn) drain() {
	c.draining.Store(true)
	if !c.inMessage.Load() {
		c.SetReadDeadline(time.Now().Add(drainGrace))
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
