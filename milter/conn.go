package milter

import (
	"bufio"
	"container/list"
	"encoding/binary"
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

// errNotOptNeg: the milter protocol starts with the MTA's option
// negotiation; anything else is not Postfix.
var errNotOptNeg = errors.New("first packet is not an option negotiation (SMFIC_OPTNEG)")

// optNegLen bounds the SMFIC_OPTNEG packet: a command byte and three 32-bit
// words (version, actions, protocol), 13 bytes from every MTA; a little
// slack for one that appends more.
const (
	minOptNegLen = 13
	maxOptNegLen = 256
)

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
	wmu       sync.Mutex // a flush may come from Shutdown's goroutine
	wbuf      []byte
	idle      time.Duration
	inMessage atomic.Bool
	draining  atomic.Bool
	// aborted is set when the socket was closed from outside (Shutdown's
	// force-close, eviction): reads fail at once, even from the buffer.
	aborted atomic.Bool
	// evicted: closed before negotiating, to make room (max_unnegotiated).
	evicted atomic.Bool

	// negotiateBy is the deadline of the option negotiation; zero once it
	// arrived. Only the goroutine reading the connection uses it.
	negotiateBy time.Time
	// pending is the connection's place in Server.pending until it
	// negotiates (guarded by Server.mu).
	pending *list.Element
}

func newConn(nc net.Conn, idle time.Duration) *conn {
	return &conn{Conn: nc, idle: idle} // br: Server.handle gives it one
}

// readBufferSize is a connection's read buffer: Postfix's events up to
// RCPT, or a header section, in one system call.
const readBufferSize = 8 << 10

func (c *conn) Read(b []byte) (int, error) {
	if c.aborted.Load() {
		// Packets already buffered must not start more callbacks on a
		// connection that is being torn down.
		return 0, net.ErrClosed
	}
	return c.br.Read(b)
}

// awaitOptNeg waits, until negotiateBy, for the first packet to arrive
// whole; it must be SMFIC_OPTNEG. The packet stays in the buffer for
// go-milter, which answers it.
func (c *conn) awaitOptNeg() error {
	hdr, err := c.br.Peek(5) // length, command
	if err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr)
	if hdr[4] != 'O' || n < minOptNegLen || n > maxOptNegLen {
		return errNotOptNeg
	}
	if _, err := c.br.Peek(4 + int(n)); err != nil {
		return err
	}
	c.negotiateBy = time.Time{}
	return nil
}

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
	switch {
	case !c.negotiateBy.IsZero():
		// One deadline for the whole negotiation: a client that sends a
		// byte at a time does not get a new one per byte.
		c.SetReadDeadline(c.negotiateBy)
	case c.idle > 0:
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

// Close is called by go-milter when it is done with the connection, after
// its last callback returned; handle then closes the engine session.
// Nothing else may call it (see abort).
func (c *conn) Close() error {
	_ = c.flush() // the last reply, when go-milter closes after it
	return c.Conn.Close()
}

// abort closes the socket from another goroutine (Shutdown's force-close,
// eviction). A callback in progress runs to its end; go-milter's next read
// then fails and it calls Close itself. Closing the engine session here
// would race with that callback.
func (c *conn) abort() {
	c.aborted.Store(true)
	c.Conn.Close()
}

// drain makes the connection end at the next point between messages.
func (c *conn) drain() {
	c.draining.Store(true)
	if !c.inMessage.Load() {
		c.SetReadDeadline(time.Now().Add(drainGrace))
	}
}
