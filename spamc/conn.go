package spamc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
)

// exchange runs one request on a fresh connection (spamd serves one
// request per connection), bounded by ctx and the client's timeout. When
// the context ends first, its error is the one returned, so that callers can
// tell a cancel or a deadline from a broken spamd.
func (c *Client) exchange(ctx context.Context, talk func(net.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("connect: %w", err))
	}
	defer conn.Close()
	// Both the deadline and a cancel interrupt a blocked read or write by
	// moving the connection's deadline to the past. Not conn.SetDeadline(
	// ctx's deadline): its timer could fire before ctx's, and the error
	// would then be a bare "i/o timeout" rather than DeadlineExceeded.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	return ctxErr(ctx, talk(conn))
}

// ctxErr puts the context's error in front of err once the context is done:
// the I/O error is then only its consequence ("i/o timeout").
func ctxErr(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	return fmt.Errorf("%w (%w)", context.Cause(ctx), err)
}

// answerFirst is for a request that could not be sent whole: spamd may
// have refused it and closed early ("Bad header line"), and its answer
// then says more than the broken pipe does.
// Errors that are not the network's (reading msg, a wrong size) are
// returned at once: spamd has nothing to say about them.
func answerFirst(conn net.Conn, sendErr error) error {
	var netErr *net.OpError
	if !errors.As(sendErr, &netErr) && !errors.Is(sendErr, syscall.EPIPE) {
		return sendErr
	}
	_, err := parseResponse(conn)
	var refused *ResponseError
	if errors.As(err, &refused) || errors.Is(err, ErrProtocol) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w (and sending failed: %w)", err, sendErr)
	}
	return sendErr
}

// readPong reads PING's answer, a single status line.
func readPong(conn net.Conn) error {
	br := bufio.NewReaderSize(conn, maxLine)
	msg, err := readStatus(br)
	if err != nil {
		return err
	}
	if msg != "PONG" {
		return protocolError("PING answered %.40q, not PONG", msg)
	}
	return nil
}

// errBadUser is returned for a User with control characters, which spamd
// refuses and which could inject protocol headers.
var errBadUser = errors.New("user name with control characters")

func validUser(u string) error {
	for _, c := range []byte(u) {
		if c < 0x20 || c == 0x7f {
			return errBadUser
		}
	}
	return nil
}
