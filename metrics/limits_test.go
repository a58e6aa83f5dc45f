package metrics

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/netutil"
)

// openFDs counts this process's file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// TestListenerHeldConnections reproduces issue 18.6 on loopback: 500
// connections opened and left silent against a listener capped at 50.
// The server never holds more than the cap, each held connection is
// closed at the header timeout, and a legitimate /healthz request gets its
// answer once the connections ahead of it have timed out.
func TestListenerHeldConnections(t *testing.T) {
	const attackers, limit = 500, 50
	l := listenerLimits{maxConns: limit, readHeader: 100 * time.Millisecond, read: 200 * time.Millisecond,
		write: time.Second, idle: 100 * time.Millisecond, maxHeaderBytes: 4 << 10}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(New().Handler(nil), l, slog.New(slog.DiscardHandler))
	counted := &countingListener{Listener: ln}
	go srv.Serve(netutil.LimitListener(counted, limit))
	defer srv.Close()

	before := openFDs(t)
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range attackers {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatalf("dial after %d: %v", len(held), err)
		}
		held = append(held, c)
	}
	during := openFDs(t)

	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatalf("/healthz behind %d held connections: %v", attackers, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" || !resp.Close {
		t.Errorf("/healthz = %d %q (connection close %v), want 200 ok and the connection closed", resp.StatusCode, body, resp.Close)
	}
	most := counted.most()
	// The test's own 500 client sockets are in the count; the server's
	// side is at most the cap.
	if most > limit || during-before > attackers+limit+10 {
		t.Errorf("server held %d connections at once (cap %d); descriptors %d → %d", most, limit, before, during)
	}
	t.Logf("held connections: server at most %d at once, process descriptors %d → %d with %d client sockets", most, before, during, attackers)
}

// TestListenerSlowHeader: a client that trickles its request header is
// cut off at the header timeout, however steadily it sends.
func TestListenerSlowHeader(t *testing.T) {
	l := defaultLimits()
	l.readHeader = 200 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(New().Handler(nil), l, slog.New(slog.DiscardHandler))
	go srv.Serve(netutil.LimitListener(ln, l.maxConns))
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.Write([]byte("GET /healthz HTTP/1.1\r\n"))
	sent := 0
	for ; sent < 200; sent++ {
		time.Sleep(20 * time.Millisecond)
		if _, err := c.Write([]byte("X-A: b\r\n")); err != nil {
			break
		}
	}
	if sent == 200 {
		t.Fatalf("a trickled header was still being read after %v", time.Since(start))
	}
	// Well before the 200 lines (4 s) the loop could send: cut off around
	// the 200 ms timeout.
	if sent > 100 {
		t.Errorf("cut off after %d header lines", sent)
	}
}

// countingListener records the most connections open at once. Under
// LimitListener, a connection's Close reaches it before the slot is freed,
// so the count is exact.
type countingListener struct {
	net.Listener
	mu         sync.Mutex
	open, peak int
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.open++
	l.peak = max(l.peak, l.open)
	l.mu.Unlock()
	return &countedConn{Conn: c, l: l}, nil
}

func (l *countingListener) most() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peak
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.mu.Unlock()
	})
	return err
}
