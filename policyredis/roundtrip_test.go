package policyredis

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"spamgate/policy"
)

// callCounter is a go-redis hook that counts what the client sends: single
// commands, and pipelines with the commands in them.
type callCounter struct {
	single, pipelines, piped atomic.Int64
}

func (c *callCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *callCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.single.Add(1)
		return next(ctx, cmd)
	}
}

func (c *callCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.pipelines.Add(1)
		c.piped.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func (c *callCounter) reset() { c.single.Store(0); c.pipelines.Store(0); c.piped.Store(0) }

// TestLookupIsOnePipeline checks, on the client and on the server, that a
// Lookup is one pipeline holding one HGETALL per key of the recipient.
func TestLookupIsOnePipeline(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	a := srv.Client()
	hset(t, a, DefaultKeyPrefix+"*", "require_tls", "no") // found last: every key is asked
	s := newSource(t, Options{Addresses: []string{srv.Addr()}})
	var calls callCounter
	s.rdb.AddHook(&calls)
	// The first lookup connects, and the handshake (HELLO, CLIENT SETINFO,
	// ...) goes through the hooks too: count from the second on.
	if _, err := s.Lookup(context.Background(), "postmaster"); err != nil {
		t.Fatal(err)
	}

	for _, rcpt := range []string{
		"postmaster",
		"carol@example.org",
		"bob+lists@a.b.sub.example.org",
	} {
		keys := len(policy.Keys(rcpt))
		calls.reset()
		resetStats(t, a)
		if r, err := s.Lookup(context.Background(), rcpt); err != nil || got(r) != "*" {
			t.Fatalf("Lookup(%q) = %s, %v; want the * rule", rcpt, got(r), err)
		}
		if n := calls.pipelines.Load(); n != 1 {
			t.Errorf("Lookup(%q) sent %d pipelines, want 1", rcpt, n)
		}
		if n := calls.single.Load(); n != 0 {
			t.Errorf("Lookup(%q) sent %d commands outside the pipeline, want 0", rcpt, n)
		}
		if n := calls.piped.Load(); n != int64(keys) {
			t.Errorf("Lookup(%q) piped %d commands, want %d (one per key)", rcpt, n, keys)
		}
		if n := commandCalls(t, a, "hgetall"); n != keys {
			t.Errorf("Lookup(%q): the server ran HGETALL %d times, want %d (one per key)", rcpt, n, keys)
		}
	}
}

// TestLookupIsOneRoundTrip puts a proxy that delays every packet towards
// Redis between Source and server: one round trip costs one delay, while
// one HGETALL after the other would cost one per key.
func TestLookupIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	hset(t, srv.Client(), DefaultKeyPrefix+"*", "require_tls", "no")
	const delay = 50 * time.Millisecond
	proxy := startSlowProxy(t, srv.Addr(), delay)
	s := newSource(t, Options{Addresses: []string{proxy}, Timeout: 2 * time.Second})

	const rcpt = "bob+lists@a.b.sub.example.org" // 8 keys
	ctx := context.Background()
	// The first lookup connects: HELLO, then CLIENT SETNAME, then the
	// pipeline. Timeout must leave room for that.
	start := time.Now()
	if _, err := s.Lookup(ctx, rcpt); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= 4*delay {
		t.Errorf("first Lookup took %v through a proxy delaying each request by %v: more than 3 round trips", took, delay)
	}
	start = time.Now()
	r, err := s.Lookup(ctx, rcpt)
	took := time.Since(start)
	if err != nil || got(r) != "*" {
		t.Fatalf("Lookup = %s, %v; want the * rule", got(r), err)
	}
	if took >= 2*delay {
		t.Errorf("Lookup of %d keys took %v through a proxy delaying each request by %v: more than one round trip",
			len(policy.Keys(rcpt)), took, delay)
	}
	t.Logf("%d keys in %v through a %v proxy", len(policy.Keys(rcpt)), took, delay)
}

// startSlowProxy forwards loopback connections to upstream, holding back
// each chunk the client sends by delay; replies pass at once.
func startSlowProxy(t *testing.T, upstream string, delay time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn // closed at the end so that the copiers stop
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			down, err := l.Accept()
			if err != nil {
				return // closed at cleanup
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				down.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, down, up)
			mu.Unlock()
			wg.Go(func() { slowCopy(up, down, delay); up.Close() })
			wg.Go(func() { _, _ = io.Copy(down, up); down.Close() })
		}
	})
	return l.Addr().String()
}

func slowCopy(dst, src net.Conn, delay time.Duration) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			time.Sleep(delay)
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
