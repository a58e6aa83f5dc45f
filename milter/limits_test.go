package milter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"spamgate/internal/logbuf"
	"spamgate/internal/miltertest"
)

// goodTx is a transaction every check accepts.
var goodTx = miltertest.Tx{
	ClientIP: "192.0.2.10", Helo: "helo.good.test", From: "user@good.test",
	Rcpts:   []string{"alice@example.net"},
	Headers: [][2]string{{"From", " user@good.test"}, {"Subject", " hello"}},
	Body:    "hello\r\n",
}

func refusedCount(r *rig, reason string) int {
	return int(testutil.ToFloat64(r.srv.refused.WithLabelValues(reason)))
}

// waitClosed reads from each connection until the server closes it; it
// fails when one is still open after the bound.
func waitClosed(t *testing.T, conns []net.Conn, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	open := 0
	for _, c := range conns {
		c.SetReadDeadline(deadline)
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			continue
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			open++
		}
	}
	if open > 0 {
		t.Errorf("%d of %d connections still open after %v", open, len(conns), bound)
	}
}

// The attack of issue 18 on loopback: many more idle TCP connections than
// max_sessions, none of which ever negotiates. Before, they held every
// slot for idle_timeout and Postfix's next connection was refused. Now a
// real milter client is served while they are all still open, and each of
// them is closed: the oldest at once to make room (max_unnegotiated), the
// rest at negotiate_timeout.
func TestIdleConnectionsDoNotStarvePostfix(t *testing.T) {
	const idle, maxSessions, maxUnnegotiated = 300, 100, 200
	r := startServer(t, Options{
		IdleTimeout: 15 * time.Minute, MaxSessions: maxSessions,
		MaxUnnegotiated: maxUnnegotiated, NegotiateTimeout: 3 * time.Second,
	})
	conns := make([]net.Conn, 0, idle)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range idle {
		c, err := net.DialTimeout("tcp", r.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("idle connection %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	res, err := miltertest.Run(r.addr, goodTx)
	if err != nil {
		t.Fatalf("a real client was not served beside %d idle connections: %v", idle, err)
	}
	if got := res.Refused("alice@example.net"); got != "" || res.Final.Code != gomilter.ActContinue {
		t.Fatalf("transaction: rcpt %q, end %+v", got, res.Final)
	}
	// Served before the idle ones timed out, so not by waiting for them.
	if n := refusedCount(r, reasonNegotiate); n != 0 {
		t.Errorf("%d idle connections had timed out before the client was served; want 0", n)
	}
	waitClosed(t, conns, 15*time.Second)
	evicted, timedOut := 0, 0
	// Each handler counts just after it closed its connection.
	for i := 0; i < 200 && evicted+timedOut < idle; i++ {
		time.Sleep(10 * time.Millisecond)
		evicted, timedOut = refusedCount(r, reasonMaxUnnegotiated), refusedCount(r, reasonNegotiate)
	}
	t.Logf("idle connections: %d evicted, %d timed out", evicted, timedOut)
	if evicted < idle-maxUnnegotiated || evicted+timedOut != idle {
		t.Errorf("%d evicted + %d timed out, want at least %d evicted and %d in all", evicted, timedOut, idle-maxUnnegotiated, idle)
	}
	if n := r.srv.ActiveSessions(); n != 0 {
		t.Errorf("%d sessions open at the end", n)
	}
}

// optNeg is the option negotiation Postfix sends first.
func optNeg() []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.WriteByte('O')
	binary.Write(&b, binary.BigEndian, [3]uint32{6, 0x1ff, 0x1fffff})
	return b.Bytes()
}

// Each way of not negotiating is closed, and counted under its reason.
func TestNegotiationRefusals(t *testing.T) {
	r := startServer(t, Options{IdleTimeout: time.Minute, NegotiateTimeout: 300 * time.Millisecond})
	cases := []struct {
		name   string
		send   func(c net.Conn)
		reason string
	}{
		{"silent", func(net.Conn) {}, reasonNegotiate},
		{"half a packet", func(c net.Conn) { c.Write(optNeg()[:7]) }, reasonNegotiate},
		{"a byte at a time", func(c net.Conn) {
			// Activity does not extend the deadline: all of the
			// negotiation but its last byte, over twice the timeout.
			for _, b := range optNeg()[:16] {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(40 * time.Millisecond)
			}
		}, reasonNegotiate},
		{"connect first", func(c net.Conn) { c.Write([]byte{0, 0, 0, 3, 'C', 'x', 0}) }, reasonBadNegotiation},
		{"huge optneg", func(c net.Conn) { c.Write([]byte{0, 1, 0, 0, 'O'}) }, reasonBadNegotiation},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := refusedCount(r, tc.reason)
			c, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tc.send(c)
			waitClosed(t, []net.Conn{c}, 5*time.Second)
			// The handler counts just after it closes.
			for i := 0; i < 100 && refusedCount(r, tc.reason) == before; i++ {
				time.Sleep(10 * time.Millisecond)
			}
			if got := refusedCount(r, tc.reason) - before; got != 1 {
				t.Errorf("%s refusals +%d, want +1", tc.reason, got)
			}
		})
	}
	// A whole negotiation in small pieces is fine.
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, part := range [][]byte{optNeg()[:3], optNeg()[3:9], optNeg()[9:]} {
		c.Write(part)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [5]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[4] != 'O' {
		t.Fatalf("no negotiation reply: %q, %v", hdr, err)
	}
}

// dialFrom opens a milter session from a given loopback source address.
func dialFrom(addr, from string) (*gomilter.ClientSession, error) {
	c := gomilter.NewClientWithOptions("tcp", addr, gomilter.ClientOptions{
		Dialer:       &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}},
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
		ActionMask:   gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine,
	})
	return c.Session()
}

// max_sessions_per_peer and max_sessions count sessions: a peer at its cap
// is refused while another peer is served, and a session ending frees its
// peer's slot.
func TestSessionCaps(t *testing.T) {
	r := startServer(t, Options{IdleTimeout: time.Minute, MaxSessions: 3, MaxSessionsPerPeer: 2})
	var open []*gomilter.ClientSession
	defer func() {
		for _, s := range open {
			s.Close()
		}
	}()
	steps := []struct {
		from   string
		reason string // "" for served
	}{
		{"127.0.0.1", ""},
		{"127.0.0.1", ""},
		{"127.0.0.1", reasonMaxPerPeer},
		{"127.0.0.2", ""},
		{"127.0.0.3", reasonMaxSessions},
	}
	for i, st := range steps {
		before := refusedCount(r, reasonMaxPerPeer) + refusedCount(r, reasonMaxSessions)
		s, err := dialFrom(r.addr, st.from)
		if st.reason == "" {
			if err != nil {
				t.Fatalf("step %d: session from %s refused: %v", i, st.from, err)
			}
			open = append(open, s)
			continue
		}
		if err == nil {
			s.Close()
			t.Fatalf("step %d: session from %s served, want refused (%s)", i, st.from, st.reason)
		}
		if got := refusedCount(r, st.reason); got < 1 || refusedCount(r, reasonMaxPerPeer)+refusedCount(r, reasonMaxSessions) != before+1 {
			t.Errorf("step %d: %s count %d, total +%d", i, st.reason, got, refusedCount(r, reasonMaxPerPeer)+refusedCount(r, reasonMaxSessions)-before)
		}
	}
	open[0].Close()
	open = open[1:]
	for i := 0; i < 200 && r.srv.ActiveSessions() != 2; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	s, err := dialFrom(r.addr, "127.0.0.1")
	if err != nil {
		t.Fatalf("after a session of 127.0.0.1 ended, a new one was refused: %v", err)
	}
	open = append(open, s)
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer = logbuf.Buffer

// A flood of refusals logs one line per kind per interval, and the next
// line says how many were left out.
func TestRateLog(t *testing.T) {
	var out syncBuffer
	l := newRateLog(slog.New(slog.NewTextHandler(&out, nil)), 10*time.Second)
	now := time.Unix(1e9, 0)
	l.now = func() time.Time { return now }
	steps := []struct {
		advance time.Duration
		kind    string
		logged  bool
	}{
		{0, "a", true},
		{time.Second, "a", false},
		{time.Second, "b", true}, // kinds are limited separately
		{time.Second, "a", false},
		{7 * time.Second, "a", true}, // 10 s after the first line
		{time.Second, "a", false},
	}
	for i, st := range steps {
		now = now.Add(st.advance)
		if got := l.warn(st.kind, "refused", "reason", st.kind); got != st.logged {
			t.Errorf("step %d (%s): logged %v, want %v", i, st.kind, got, st.logged)
		}
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[2], "reason=a suppressed_since_last=2") {
		t.Errorf("log lines:\n%s", out.String())
	}
}
