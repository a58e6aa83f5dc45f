package socketmap_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"spamgate/socketmap"
)

// Many requests on one connection, as Postfix sends them.
func TestRequestsOnOneConnection(t *testing.T) {
	t.Parallel()
	s := startServer(t, testHandler, nil)
	c := dial(t, s.addr)
	tests := []struct{ name, key, want string }{
		{"tlspolicy", "example.org", "OK secure match=mx.example.org"},
		{"tlspolicy", "nowhere.example", "NOTFOUND "},
		{"tlspolicy", "with space", "OK encrypt"},
		{"tlspolicy", "", "OK empty key"},
		{"tlspolicy", "big.example", "OK " + strings.Repeat("x", 1000)},
		{"fail", "example.org", "TEMP backend down"},
		{"nosuchmap", "example.org", "PERM unknown map nosuchmap"},
		{"tlspolicy", "example.org", "OK secure match=mx.example.org"},
	}
	for _, tt := range tests {
		if got := c.query(tt.name, tt.key); got != tt.want {
			t.Errorf("%s %q: got %.60q, want %.60q", tt.name, tt.key, got, tt.want)
		}
	}
}

// Requests sent back to back before any reply are answered in order.
func TestPipelinedRequests(t *testing.T) {
	t.Parallel()
	s := startServer(t, testHandler, nil)
	c := dial(t, s.addr)
	c.send(netstring("tlspolicy example.org") + netstring("tlspolicy none.example") + netstring("x y"))
	for _, want := range []string{"OK secure match=mx.example.org", "NOTFOUND ", "PERM unknown map x"} {
		if got, err := c.reply(); err != nil || got != want {
			t.Fatalf("reply %q, %v; want %q", got, err, want)
		}
	}
}

// A request framed correctly but without "NAME KEY" gets PERM; the connection goes on.
func TestMalformedRequest(t *testing.T) {
	t.Parallel()
	s := startServer(t, testHandler, nil)
	c := dial(t, s.addr)
	for _, req := range []string{"tlspolicy", " example.org", ""} {
		c.send(netstring(req))
		got, err := c.reply()
		if err != nil || !strings.HasPrefix(got, "PERM ") {
			t.Errorf("request %q: reply %q, %v; want PERM", req, got, err)
		}
	}
	if got := c.query("tlspolicy", "example.org"); !strings.HasPrefix(got, "OK ") {
		t.Errorf("after malformed requests: %q", got)
	}
}

// Broken netstrings and oversized requests close the connection without a reply;
// the request before them on the same connection is answered.
func TestProtocolErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t, testHandler, func(s *socketmap.Server) { s.MaxRequestSize = 100 })
	tests := []struct{ name, raw string }{
		{"not a netstring", "tlspolicy example.org\n"},
		{"bad terminator", "21:tlspolicy example.org;"},
		{"length too short", "5:tlspolicy example.org,"},
		{"leading zero", "021:tlspolicy example.org,"},
		{"empty length", ":x,"},
		{"oversized", netstring("tlspolicy " + strings.Repeat("a", 91))},
		{"oversized length only", "100000000000000000000:"},
		{"cut short", "21:tlspolicy exam"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, s.addr)
			if got := c.query("tlspolicy", "example.org"); !strings.HasPrefix(got, "OK ") {
				t.Fatalf("first request: %q", got)
			}
			c.send(tt.raw)
			if tt.name == "cut short" {
				c.nc.(interface{ CloseWrite() error }).CloseWrite()
			}
			c.expectClosed()
		})
	}
}

// The largest request allowed is served.
func TestRequestAtSizeLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, testHandler, func(s *socketmap.Server) { s.MaxRequestSize = 100 })
	c := dial(t, s.addr)
	key := strings.Repeat("a", 100-len("tlspolicy "))
	if got := c.query("tlspolicy", key); got != "NOTFOUND " {
		t.Errorf("got %q", got)
	}
}

// Replies that Postfix could not take become TEMP.
func TestUnsendableReplies(t *testing.T) {
	t.Parallel()
	h := func(_ context.Context, _, key string) socketmap.Reply {
		switch key {
		case "huge":
			return socketmap.OK(strings.Repeat("x", socketmap.MaxReplySize))
		case "max":
			return socketmap.OK(strings.Repeat("x", socketmap.MaxReplySize-3))
		case "panic":
			panic("boom")
		}
		return socketmap.Reply{Status: "MAYBE"}
	}
	s := startServer(t, h, nil)
	c := dial(t, s.addr)
	tests := []struct{ key, want string }{
		{"huge", "TEMP invalid reply from lookup"},
		{"max", "OK " + strings.Repeat("x", socketmap.MaxReplySize-3)},
		{"bogus", "TEMP invalid reply from lookup"},
		{"panic", "TEMP internal error"},
	}
	for _, tt := range tests {
		if got := c.query("m", tt.key); got != tt.want {
			t.Errorf("%s: got %.40q (%d bytes), want %.40q", tt.key, got, len(got), tt.want)
		}
	}
}

// A handler that overruns RequestTimeout gets TIMEOUT answered for it, with its ctx
// done; the connection stays usable.
func TestHandlerDeadline(t *testing.T) {
	t.Parallel()
	sawDone := make(chan error, 1)
	h := func(ctx context.Context, _, key string) socketmap.Reply {
		if key == "slow" {
			<-ctx.Done()
			sawDone <- ctx.Err()
			time.Sleep(50 * time.Millisecond) // answers late: must be dropped
			return socketmap.OK("late")
		}
		return socketmap.OK("fast")
	}
	s := startServer(t, h, func(s *socketmap.Server) { s.RequestTimeout = 100 * time.Millisecond })
	c := dial(t, s.addr)
	start := time.Now()
	if got := c.query("m", "slow"); got != "TIMEOUT lookup timed out" {
		t.Errorf("slow: got %q", got)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > time.Second {
		t.Errorf("TIMEOUT after %v, want about 100ms", d)
	}
	if err := <-sawDone; err != context.DeadlineExceeded {
		t.Errorf("handler ctx: %v", err)
	}
	if got := c.query("m", "fast"); got != "OK fast" {
		t.Errorf("after timeout: got %q", got)
	}
}

// A connection without requests is closed after IdleTimeout.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	s := startServer(t, testHandler, func(s *socketmap.Server) { s.IdleTimeout = 100 * time.Millisecond })
	c := dial(t, s.addr)
	c.query("tlspolicy", "example.org")
	start := time.Now()
	c.expectClosed()
	if d := time.Since(start); d < 90*time.Millisecond || d > 2*time.Second {
		t.Errorf("closed after %v, want about 100ms", d)
	}
}

// The handler's context carries the key and map as sent, byte for byte.
func TestKeyBytes(t *testing.T) {
	t.Parallel()
	h := func(_ context.Context, name, key string) socketmap.Reply { return socketmap.OK(name + "|" + key) }
	s := startServer(t, h, nil)
	c := dial(t, s.addr)
	for _, key := range []string{"a b c", "x,y:z", "\x00\xff", "[192.0.2.1]:25", "UPPER.Example"} {
		if got := c.query("m", key); got != "OK m|"+key {
			t.Errorf("key %q: got %q", key, got)
		}
	}
}
