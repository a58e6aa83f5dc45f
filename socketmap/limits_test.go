package socketmap_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"spamgate/internal/postfixtest"
	"spamgate/socketmap"
)

// warnCounter counts warning records by message.
type warnCounter struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (w *warnCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnCounter) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.msgs == nil {
		w.msgs = map[string]int{}
	}
	w.msgs[r.Message]++
	return nil
}
func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnCounter) WithGroup(string) slog.Handler      { return w }
func (w *warnCounter) count(msg string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.msgs[msg]
}

func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestHeldConnections reproduces issue 18.6 on loopback: 500 connections
// opened and left silent against max_connections 50. The server keeps at
// most 50 (the rest are closed at accept, counted, logged once), the held
// ones end at the idle timeout, and a legitimate lookup then succeeds.
func TestHeldConnections(t *testing.T) {
	const attackers, limit = 500, 50
	var warns warnCounter
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &countingListener{Listener: inner}
	s := socketmap.NewServer(testHandler, slog.New(&warns))
	s.MaxConnections, s.IdleTimeout = limit, time.Second
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collectors()...)
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	before := openFDs(t)
	held := make([]net.Conn, 0, attackers)
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	most := 0
	for range attackers {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatalf("dial after %d: %v", len(held), err)
		}
		held = append(held, c)
		most = max(most, s.Stats().Open)
	}
	waitFor(t, "the accepts", func() bool { return ln.accepted.Load() == attackers })
	during := openFDs(t)
	// Held connections that timed out while the 500 were dialled made
	// room for a few more: allow one round of them.
	if r := s.Stats().Refused; r < attackers-2*limit {
		t.Errorf("%d connections refused, want about %d", r, attackers-limit)
	}
	if most > limit || s.Stats().Open > limit {
		t.Errorf("%d connections open at once, max_connections %d", most, limit)
	}
	// The test's own 500 client sockets are in the count.
	if during-before > attackers+limit+10 {
		t.Errorf("process descriptors %d → %d", before, during)
	}
	if n := warns.count("socketmap: connections refused: max_connections open"); n != 1 {
		t.Errorf("%d refusal log lines, want 1 a minute", n)
	}
	if v := testutil.ToFloat64(s.Collectors()[1]); v != float64(s.Stats().Refused) {
		t.Errorf("refused metric %v, stats %+v", v, s.Stats())
	}

	// The held connections time out; Postfix's next lookup gets through.
	waitFor(t, "the idle connections to close", func() bool { return s.Stats().Open == 0 })
	if got := dial(t, ln.Addr().String()).query("tlspolicy", "example.org"); got != "OK secure match=mx.example.org" {
		t.Errorf("lookup after the attack: %q", got)
	}
	t.Logf("500 held connections: server open at most %d, refused %d, process descriptors %d → %d", most, s.Stats().Refused, before, during)
}

// TestMaxLifetime: requests renew the idle timeout but not the lifetime: a
// client asking every 20 ms is cut off at MaxLifetime, after an answer.
func TestMaxLifetime(t *testing.T) {
	t.Parallel()
	s := startServer(t, testHandler, func(s *socketmap.Server) {
		s.IdleTimeout, s.MaxLifetime = 10*time.Second, 300*time.Millisecond
	})
	c := dial(t, s.addr)
	answered := 0
	start := time.Now()
	for ; time.Since(start) < 5*time.Second; answered++ {
		c.send(netstring("tlspolicy example.org"))
		if _, err := c.reply(); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if answered < 3 || time.Since(start) >= 5*time.Second {
		t.Fatalf("%d answers in %v: want a few, then the connection closed", answered, time.Since(start))
	}
	if st := s.Stats(); st.Expired != 1 {
		t.Errorf("stats %+v, want one expired connection", st)
	}
}

// TestPostmapReconnectsAfterLifetime: Postfix's own client, asked for keys
// slower than MaxLifetime, reconnects transparently when we close its
// connection: every key is answered, on several connections.
func TestPostmapReconnectsAfterLifetime(t *testing.T) {
	postfixtest.Require(t)
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &countingListener{Listener: inner}
	s := socketmap.NewServer(testHandler, testLogger(t))
	s.MaxLifetime = 100 * time.Millisecond
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, postmapBin, "-c", configDir(t), "-q", "-", "socketmap:inet:"+ln.Addr().String()+":tlspolicy")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"example.org", "dane.example", "example.org"} {
		io.WriteString(stdin, key+"\n")
		time.Sleep(300 * time.Millisecond) // past the lifetime: the connection is gone
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("postmap: %v\n%s", err, stderr.String())
	}
	want := "example.org\tsecure match=mx.example.org\ndane.example\tdane\nexample.org\tsecure match=mx.example.org\n"
	if stdout.String() != want {
		t.Errorf("stdout %q, want %q; stderr %q", stdout.String(), want, stderr.String())
	}
	if n := ln.accepted.Load(); n < 2 || s.Stats().Expired < 1 {
		t.Errorf("%d connections, %d expired: want Postfix to have reconnected", n, s.Stats().Expired)
	}
	if strings.Contains(stderr.String(), "fatal") {
		t.Errorf("postmap stderr %q", stderr.String())
	}
}

// TestPartialRequestTimeout: once a request's first byte is in, the whole
// netstring must arrive within RequestTimeout, however steadily a client
// trickles it: the deadline is set once per request, not per read.
func TestPartialRequestTimeout(t *testing.T) {
	t.Parallel()
	s := startServer(t, testHandler, func(s *socketmap.Server) { s.RequestTimeout = 200 * time.Millisecond })
	c := dial(t, s.addr)
	c.send("1000:tlspolicy ")
	sent := 0
	for ; sent < 100; sent++ {
		time.Sleep(20 * time.Millisecond)
		if _, err := io.WriteString(c.nc, "x"); err != nil {
			break
		}
	}
	// 100 bytes 20 ms apart would take 2 s: cut off around 200 ms.
	if sent >= 50 {
		t.Errorf("a trickled request was still read after %d bytes", sent)
	}
	c.expectClosed()
}
