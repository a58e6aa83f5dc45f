package greylist

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"spamgate/internal/redistest"
)

// callCounter counts what a client sends and dials.
type callCounter struct{ dials, cmds atomic.Int64 }

func (c *callCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c.dials.Add(1)
		return next(ctx, network, addr)
	}
}

func (c *callCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.cmds.Add(1)
		return next(ctx, cmd)
	}
}

func (c *callCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func (c *callCounter) total() int64 { return c.dials.Load() + c.cmds.Load() }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestCheckerRedisOutage kills, restarts and freezes the server under a
// Checker: calls end within the timeout, the breaker then fails fast
// without touching Redis, and recovers after the open period. Not
// parallel: it counts goroutines.
func TestCheckerRedisOutage(t *testing.T) {
	before := runtime.NumGoroutine()
	srv := redistest.Start(t)
	clk := newClock()
	const timeout = 100 * time.Millisecond
	st, err := NewRedis(RedisOptions{Addresses: []string{srv.Addr()}, Timeout: timeout, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	var calls callCounter
	st.rdb.AddHook(&calls)
	c := NewChecker(st, CheckerOptions{Timeout: timeout, Now: clk.Now,
		Breaker: BreakerOptions{Failures: 3, OpenFor: 30 * time.Second}}, quietLogger())
	ctx := context.Background()
	req := func(i int) Request {
		return Request{Client: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), Sender: "a@example.com", Rcpt: "b@example.org"}
	}
	warmUp(t, st)

	slowest := checkWhileKilled(t, c, srv, req)
	// The slack is for a loaded test machine; a hang would take seconds
	// (go-redis's default timeouts and retries).
	if limit := 2*timeout + 300*time.Millisecond; slowest > limit {
		t.Errorf("slowest Check during the outage took %v, want under %v", slowest, limit)
	}
	if err := c.Healthy(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Healthy after the outage = %v, want ErrUnavailable", err)
	}
	n := calls.total()
	start := time.Now()
	for i := range 50 {
		if _, err := c.Check(ctx, req(i)); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Check with the breaker open: %v, want ErrUnavailable", err)
		}
	}
	if d := time.Since(start); d > timeout {
		t.Errorf("50 Checks with the breaker open took %v, more than one store timeout", d)
	}
	if got := calls.total(); got != n {
		t.Errorf("the client dialed or sent %d times with the breaker open", got-n)
	}

	srv.Restart()
	if _, err := c.Check(ctx, req(1)); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Check before the open period ends: %v, want ErrUnavailable", err)
	}
	clk.Advance(31 * time.Second)
	if d, err := c.Check(ctx, req(1)); err != nil || d.Reason != ReasonNew {
		t.Fatalf("trial Check after restart = %+v, %v; want new (the data is gone)", d, err)
	}
	if err := c.Healthy(); err != nil {
		t.Errorf("Healthy after recovery = %v", err)
	}

	// A frozen server: the kernel accepts, nothing answers.
	srv.Pause()
	start = time.Now()
	if _, err := c.Check(ctx, req(2)); err == nil {
		t.Error("Check on a frozen server: no error")
	}
	if d := time.Since(start); d > 2*timeout+300*time.Millisecond {
		t.Errorf("Check on a frozen server took %v", d)
	}
	srv.Resume()

	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	waitGoroutines(t, before)
}

// warmUp connects s and loads the check script with a generous deadline,
// so that a loaded test machine does not fail the first, slower, call.
func warmUp(t *testing.T, s *Redis) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.check.Load(ctx, s.rdb).Err(); err != nil {
		t.Fatalf("SCRIPT LOAD: %v", err)
	}
}

// checkWhileKilled runs checks from four goroutines and kills the server
// while they run; it returns the slowest call.
func checkWhileKilled(t *testing.T, c *Checker, srv *redistest.Server, req func(int) Request) time.Duration {
	t.Helper()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		slowest time.Duration
		stop    = make(chan struct{})
	)
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				_, _ = c.Check(context.Background(), req(g*50+i%50))
				mu.Lock()
				slowest = max(slowest, time.Since(start))
				mu.Unlock()
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	srv.Kill()
	time.Sleep(400 * time.Millisecond)
	close(stop)
	wg.Wait()
	return slowest
}

// waitGoroutines waits a little for goroutines to end, then fails if
// more are left than there were before.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	const tolerance = 2
	deadline := time.Now().Add(3 * time.Second)
	for {
		now := runtime.NumGoroutine()
		if now <= before+tolerance {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, now, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
