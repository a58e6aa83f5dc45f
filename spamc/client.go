package spamc

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"
)

// Defaults for the zero fields of Client.
const (
	// DefaultTimeout bounds a whole call. spamc waits 600 s, but a milter
	// must answer Postfix well within milter_content_timeout, and a spamd
	// that takes half a minute is better treated as down.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxSize is spamc's own default limit (500 KB).
	DefaultMaxSize = 500 * 1024
)

// Client talks to one spamd. The zero value of each field but Addr means
// its default; a Client is safe for concurrent use (it keeps no state).
type Client struct {
	Addr    string        // "host:port" of spamd, e.g. "127.0.0.1:783"
	Timeout time.Duration // bound on a whole call, connect to last byte; 0: DefaultTimeout
	MaxSize int64         // larger messages are not sent; 0: DefaultMaxSize
	User    string        // sent as "User:", whose preferences spamd applies; "" sends none
}

// Check has spamd scan a message of size bytes read from msg, and returns
// its verdict. A message larger than MaxSize is not sent: Check returns
// ErrTooBig at once. The whole exchange is bounded by ctx and Timeout.
func (c *Client) Check(ctx context.Context, msg io.Reader, size int64) (Result, error) {
	if size < 0 {
		return Result{}, fmt.Errorf("spamc: check: negative size %d", size)
	}
	if size > c.maxSize() {
		return Result{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooBig, size, c.maxSize())
	}
	if err := validUser(c.User); err != nil {
		return Result{}, fmt.Errorf("spamc: check: %w", err)
	}
	var res Result
	err := c.exchange(ctx, func(conn net.Conn) error {
		if err := writeCheck(conn, c.User, msg, size); err != nil {
			return answerFirst(conn, err)
		}
		var err error
		res, err = parseResponse(conn)
		return err
	})
	if err != nil {
		return Result{}, fmt.Errorf("spamc: check via %s: %w", c.Addr, err)
	}
	return res, nil
}

// Ping checks that spamd is there and answers: PING, "SPAMD/1.5 0 PONG".
func (c *Client) Ping(ctx context.Context) error {
	err := c.exchange(ctx, func(conn net.Conn) error {
		if _, err := io.WriteString(conn, "PING SPAMC/1.5\r\n\r\n"); err != nil {
			return fmt.Errorf("send PING: %w", err)
		}
		return readPong(conn)
	})
	if err != nil {
		return fmt.Errorf("spamc: ping %s: %w", c.Addr, err)
	}
	return nil
}

func (c *Client) maxSize() int64 {
	if c.MaxSize > 0 {
		return c.MaxSize
	}
	return DefaultMaxSize
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}
