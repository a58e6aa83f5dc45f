package socketmap_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"spamgate/socketmap"
)

// testMap is the data behind testHandler's "tlspolicy" map.
var testMap = map[string]string{
	"example.org":  "secure match=mx.example.org",
	"with space":   "encrypt",
	"":             "empty key",
	"big.example":  strings.Repeat("x", 1000),
	"dane.example": "dane",
}

// testHandler answers the map "tlspolicy" from testMap, "fail" with TEMP and every
// other map name with PERM, as a real handler would.
func testHandler(_ context.Context, mapName, key string) socketmap.Reply {
	switch mapName {
	case "tlspolicy":
		if v, ok := testMap[key]; ok {
			return socketmap.OK(v)
		}
		return socketmap.NotFound()
	case "fail":
		return socketmap.Temp("backend down")
	}
	return socketmap.Perm("unknown map " + mapName)
}

// server is a Server running on a loopback port.
type server struct {
	*socketmap.Server
	addr   string
	served chan error // Serve's result
}

// startServer serves h on 127.0.0.1; set adjusts the tunables before Serve. The
// server is shut down when the test ends, and Serve must then return nil.
func startServer(t *testing.T, h socketmap.Handler, set func(*socketmap.Server)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{Server: socketmap.NewServer(h, testLogger(t)), addr: ln.Addr().String(), served: make(chan error, 1)}
	if set != nil {
		set(s.Server)
	}
	go func() { s.served <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-s.served; err != nil {
			t.Errorf("Serve returned %v after Shutdown, want nil", err)
		}
	})
	return s
}

// testLogger logs to the test's output, so a failure shows what the server saw.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// client is a raw protocol client on one connection.
type client struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if err := nc.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// send writes raw bytes.
func (c *client) send(raw string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, raw); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// query sends "name key" as a netstring and returns the reply's payload.
func (c *client) query(name, key string) string {
	c.t.Helper()
	c.send(netstring(name + " " + key))
	rep, err := c.reply()
	if err != nil {
		c.t.Fatalf("reply to %q %q: %v", name, key, err)
	}
	return rep
}

// reply reads one netstring reply.
func (c *client) reply() (string, error) {
	head, err := c.br.ReadString(':')
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(strings.TrimSuffix(head, ":"))
	if err != nil {
		return "", fmt.Errorf("bad reply length %q", head)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(c.br, buf); err != nil {
		return "", err
	}
	if buf[n] != ',' {
		return "", fmt.Errorf("reply %q not terminated by ','", buf)
	}
	return string(buf[:n]), nil
}

// expectClosed asserts that the server closes the connection without a reply.
func (c *client) expectClosed() {
	c.t.Helper()
	b, err := c.br.ReadByte()
	if err == nil {
		rest, _ := c.br.Peek(c.br.Buffered())
		c.t.Fatalf("got %q, want the connection closed", string(b)+string(rest))
	}
	if !errors.Is(err, io.EOF) && !isReset(err) {
		c.t.Fatalf("read: %v, want EOF", err)
	}
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

func netstring(s string) string { return fmt.Sprintf("%d:%s,", len(s), s) }
