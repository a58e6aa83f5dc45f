package socketmap

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"
)

// connState tells Shutdown whether a connection may be closed at once.
type connState int

const (
	stateIdle   connState = iota // waiting for a request: Shutdown closes it
	stateActive                  // reading, handling or answering a request
)

// readBufferSize fits the usual request whole; longer ones are read through it.
const readBufferSize = 4096

// conn is one client connection; Postfix sends requests on it one after another.
type conn struct {
	srv  *Server
	nc   net.Conn
	br   *bufio.Reader
	log  *slog.Logger
	wbuf []byte
	// expires is when MaxLifetime ends; no request starts after it.
	expires time.Time
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{
		srv:     s,
		nc:      nc,
		br:      bufio.NewReaderSize(nc, readBufferSize),
		log:     s.log.With("client", nc.RemoteAddr().String()),
		expires: time.Now().Add(s.MaxLifetime),
	}
}

// serve answers requests until the client leaves, a protocol error or Shutdown.
func (c *conn) serve() {
	defer c.srv.wg.Done()
	defer c.srv.removeConn(c)
	defer c.nc.Close()
	for {
		if err := c.awaitRequest(); err != nil {
			c.logEnd(err, "idle")
			return
		}
		if !c.srv.setState(c, stateActive) {
			return
		}
		if err := c.serveOne(); err != nil {
			c.logEnd(err, "request")
			return
		}
		if !c.srv.setState(c, stateIdle) {
			return
		}
	}
}

// errExpired ends a connection that reached MaxLifetime.
var errExpired = errors.New("socketmap: connection reached max lifetime")

// awaitRequest waits, at most IdleTimeout and never past the connection's
// MaxLifetime, for the first byte of the next request. A request that
// arrives renews the idle timeout, not the lifetime: a client cannot keep a
// connection (a file descriptor) for ever by asking now and then. Postfix
// reconnects on its next lookup.
func (c *conn) awaitRequest() error {
	deadline := time.Now().Add(c.srv.IdleTimeout)
	lifetime := !c.expires.After(deadline)
	if lifetime {
		deadline = c.expires
	}
	if err := c.nc.SetReadDeadline(deadline); err != nil {
		return err
	}
	_, err := c.br.Peek(1)
	var ne net.Error
	if lifetime && c.br.Buffered() == 0 && errors.As(err, &ne) && ne.Timeout() {
		c.srv.expired.Add(1)
		return errExpired
	}
	return err
}

// serveOne reads one request, has it answered and sends the reply.
func (c *conn) serveOne() error {
	if err := c.nc.SetReadDeadline(time.Now().Add(c.srv.RequestTimeout)); err != nil {
		return err
	}
	req, err := readNetstring(c.br, c.srv.MaxRequestSize)
	if err != nil {
		return err
	}
	rep := c.srv.answer(string(req), c.log)
	return c.write(rep)
}

// write sends rep; a reply that cannot be sent as it is becomes a TEMP reply.
func (c *conn) write(rep Reply) error {
	p, err := rep.payload()
	if err != nil {
		c.log.Error("socketmap: handler reply not sendable", "error", err)
		p, _ = Temp("invalid reply from lookup").payload()
	}
	c.wbuf = appendNetstring(c.wbuf[:0], p)
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.srv.WriteTimeout)); err != nil {
		return err
	}
	_, err = c.nc.Write(c.wbuf)
	return err
}

// logEnd logs why the connection ends: quietly for the ordinary ends (the client
// closed, Shutdown closed, an idle timeout), as a warning for protocol errors.
func (c *conn) logEnd(err error, phase string) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.log.Debug("socketmap: connection closed", "phase", phase)
	case phase == "idle" && errors.As(err, &ne) && ne.Timeout():
		c.log.Debug("socketmap: idle connection timed out")
	case errors.Is(err, errExpired):
		c.log.Debug("socketmap: connection closed at its max lifetime")
	case errors.Is(err, errFormat), errors.Is(err, errTooLong), errors.Is(err, io.ErrUnexpectedEOF):
		c.log.Warn("socketmap: protocol error, closing connection", "error", err)
	default:
		c.log.Warn("socketmap: connection failed", "phase", phase, "error", err)
	}
}
