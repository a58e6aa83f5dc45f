package redistest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Link is a loopback TCP proxy to a target that delays what the target
// sends by Delay (one way) and, on Cut, drops what it still holds and
// closes every connection: a host crash seen through a link of that
// latency. Put between a master and its replica, it makes replication
// lag a setting: on loopback alone a killed process's socket buffers are
// still delivered, so nothing would be lost.
type Link struct {
	Delay  time.Duration
	ln     net.Listener
	target string
	cut    atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

// chunk is data read from the target and when.
type chunk struct {
	b  []byte
	at time.Time
}

// StartLink listens on a free loopback port; it is closed when the test
// ends.
func StartLink(t testing.TB, target string, delay time.Duration) *Link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("link to %s: %v", target, err)
	}
	l := &Link{Delay: delay, ln: ln, target: target}
	t.Cleanup(l.Cut)
	go l.accept()
	return l
}

// Addr is where to connect instead of the target.
func (l *Link) Addr() string { return l.ln.Addr().String() }

// Port is Addr's port.
func (l *Link) Port() int { return l.ln.Addr().(*net.TCPAddr).Port }

// Cut drops the data in flight and closes the listener and every
// connection; later connections are refused.
func (l *Link) Cut() {
	l.cut.Store(true)
	_ = l.ln.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.conns = nil
}

func (l *Link) accept() {
	for {
		in, err := l.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.DialTimeout("tcp", l.target, time.Second)
		if err != nil {
			_ = in.Close()
			continue
		}
		l.mu.Lock()
		if l.cut.Load() {
			l.mu.Unlock()
			_ = in.Close()
			_ = out.Close()
			return
		}
		l.conns = append(l.conns, in, out)
		l.mu.Unlock()
		go l.forward(out, in, 0)
		go l.forward(in, out, l.Delay)
	}
}

// forward copies from src to dst, each chunk delay after it was read;
// a reader and a writer so that the delay is latency, not throughput.
// Everything queued when the link is cut is dropped.
func (l *Link) forward(dst, src net.Conn, delay time.Duration) {
	q := make(chan chunk, 4096)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(q)
		for {
			b := make([]byte, 32<<10)
			n, err := src.Read(b)
			if n > 0 {
				select {
				case q <- chunk{b: b[:n], at: time.Now()}:
				case <-stop:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.at.Add(delay)))
		if l.cut.Load() {
			return
		}
		if _, err := dst.Write(c.b); err != nil {
			return
		}
	}
	_ = dst.Close()
}
