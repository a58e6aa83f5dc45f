package spamc

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"spamgate/internal/spamdtest"
)

// gtube is SpamAssassin's test message: it hits rule GTUBE, 1000 points.
const gtube = "From: alice@example.com\r\nTo: bob@example.com\r\nSubject: test\r\n" +
	"Message-ID: <gtube@example.com>\r\n\r\n" +
	"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n"

const ham = "From: Alice <alice@example.com>\r\nTo: Bob <bob@example.com>\r\n" +
	"Subject: lunch on Friday\r\nDate: Mon, 3 Mar 2025 10:00:00 +0100\r\n" +
	"Message-ID: <20250303100000.1234@example.com>\r\n\r\n" +
	"Hi Bob,\r\n\r\nshall we have lunch on Friday at noon? The usual place.\r\n\r\nAlice\r\n"

// TestSpamd runs everything that needs a spamd against one real spamd,
// started once: its start takes seconds. The last subtest kills it.
func TestSpamd(t *testing.T) {
	t0 := time.Now()
	srv := spamdtest.Start(t)
	t.Logf("spamd started in %v", time.Since(t0))
	c := &Client{Addr: srv.Addr(), Timeout: 20 * time.Second}
	ctx := t.Context()

	t.Run("Ping", func(t *testing.T) {
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("GTUBE", func(t *testing.T) {
		res := check(t, c, gtube)
		if !res.Spam || res.Score < 1000 || res.Threshold != 5 || !slices.Contains(res.Rules, "GTUBE") {
			t.Errorf("GTUBE: %+v", res)
		}
	})
	t.Run("ham", func(t *testing.T) {
		res := check(t, c, ham)
		if res.Spam || res.Score >= res.Threshold || slices.Contains(res.Rules, "GTUBE") {
			t.Errorf("ham: %+v", res)
		}
	})
	t.Run("User", func(t *testing.T) {
		u := &Client{Addr: srv.Addr(), User: "bob"}
		if _, err := u.Check(ctx, strings.NewReader(ham), int64(len(ham))); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := c.Check(ctx, strings.NewReader(gtube), int64(len(gtube)))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("down", func(t *testing.T) {
		srv.Kill()
		start := time.Now()
		_, err := c.Check(ctx, strings.NewReader(gtube), int64(len(gtube)))
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("err = %v, want connection refused", err)
		}
		if err := c.Ping(ctx); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("Ping: err = %v, want connection refused", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("took %v to notice spamd is down", d)
		}
	})
}

func check(t *testing.T, c *Client, msg string) Result {
	t.Helper()
	res, err := c.Check(t.Context(), strings.NewReader(msg), int64(len(msg)))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestTooBig checks that a big message is refused without connecting: the
// address is one nothing listens on, so a connect would fail differently.
func TestTooBig(t *testing.T) {
	c := &Client{Addr: "127.0.0.1:1", MaxSize: 10}
	for _, size := range []int64{11, 1 << 40} {
		_, err := c.Check(t.Context(), strings.NewReader(gtube), size)
		if !errors.Is(err, ErrTooBig) {
			t.Errorf("size %d: err = %v, want ErrTooBig", size, err)
		}
	}
	d := &Client{Addr: "127.0.0.1:1"} // default limit
	if _, err := d.Check(t.Context(), strings.NewReader(""), DefaultMaxSize+1); !errors.Is(err, ErrTooBig) {
		t.Errorf("default limit: err = %v, want ErrTooBig", err)
	}
}

// TestBadInput checks what is refused before or while sending.
func TestBadInput(t *testing.T) {
	addr := silentServer(t, nil)
	tests := []struct {
		name string
		c    Client
		msg  string
		size int64
	}{
		{"negative size", Client{Addr: addr}, "", -1},
		{"User with CRLF", Client{Addr: addr, User: "bob\r\nContent-length: 1"}, "x", 1},
		{"message shorter than size", Client{Addr: addr, Timeout: time.Second}, "abc", 4},
		{"message longer than size", Client{Addr: addr, Timeout: time.Second}, "abcd", 3},
	}
	for _, tt := range tests {
		if _, err := tt.c.Check(t.Context(), strings.NewReader(tt.msg), tt.size); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

// TestStuckServer checks that a spamd that accepts and never answers is
// given up on at the Timeout, or at once when the context is canceled.
func TestStuckServer(t *testing.T) {
	addr := silentServer(t, nil)
	c := &Client{Addr: addr, Timeout: 200 * time.Millisecond}
	start := time.Now()
	_, err := c.Check(t.Context(), strings.NewReader(ham), int64(len(ham)))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Timeout 200ms took %v", d)
	}

	c.Timeout = time.Minute
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	if err := c.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancel after 100ms took %v", d)
	}
}

// TestNotSpamd checks that a server answering something else is an error.
func TestNotSpamd(t *testing.T) {
	addr := silentServer(t, func(c net.Conn) { _, _ = io.WriteString(c, "+PONG\r\n") })
	c := &Client{Addr: addr, Timeout: 2 * time.Second}
	if err := c.Ping(t.Context()); !errors.Is(err, ErrProtocol) {
		t.Errorf("Ping: err = %v, want ErrProtocol", err)
	}
	if _, err := c.Check(t.Context(), strings.NewReader(ham), int64(len(ham))); !errors.Is(err, ErrProtocol) {
		t.Errorf("Check: err = %v, want ErrProtocol", err)
	}
}

// TestRefusedEarly checks that spamd's refusal is reported even when it
// came while the request was still being sent and broke the sending.
func TestRefusedEarly(t *testing.T) {
	addr := silentServer(t, func(c net.Conn) {
		_, _ = io.WriteString(c, "SPAMD/1.0 76 Bad header line: (Content-Length mismatch)\r\n")
	})
	c := &Client{Addr: addr, Timeout: 2 * time.Second}
	_, err := c.Check(t.Context(), strings.NewReader(ham), int64(len(ham)))
	var re *ResponseError
	if !errors.As(err, &re) || re.Code != 76 {
		t.Errorf("err = %v, want ResponseError 76", err)
	}

	client, server := net.Pipe()
	defer client.Close()
	go func() {
		_, _ = io.WriteString(server, "SPAMD/1.0 76 Bad header line: (EOF during headers)\r\n")
		server.Close()
	}()
	err = answerFirst(client, syscall.EPIPE)
	if !errors.As(err, &re) || re.Code != 76 || !errors.Is(err, syscall.EPIPE) {
		t.Errorf("answerFirst: err = %v, want ResponseError 76 and EPIPE", err)
	}
	if err := answerFirst(server, syscall.EPIPE); err != syscall.EPIPE {
		t.Errorf("answerFirst without an answer: err = %v, want EPIPE alone", err)
	}
}

// silentServer accepts connections on a loopback port, reads what comes,
// and answers with reply, if any, or not at all.
func silentServer(t *testing.T, reply func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go func() {
				if reply != nil {
					reply(c)
					// Half-close and go on reading: a full close with
					// unread data would reset the connection, and the
					// client might lose the reply.
					_ = c.(*net.TCPConn).CloseWrite()
				}
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return l.Addr().String()
}
