package history

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"spamgate/internal/redistest"
	"spamgate/redisconn"
)

func openRedisStore(t *testing.T, addr string, clk *clock, maxBytes int64) *RedisStore {
	t.Helper()
	s, err := OpenRedis(RedisOptions{Conn: redisconn.Options{Addresses: []string{addr}, Timeout: 500 * time.Millisecond},
		KeyPrefix: "t:hist:", Days: 14, MaxBytes: maxBytes, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRedisStore(t *testing.T) {
	srv := redistest.Start(t)
	storeContract(t, func(t *testing.T, clk *clock) syncer { return openRedisStore(t, srv.Addr(), clk, 64<<20) })
}

// TestRedisStoreShared: two MX hosts write to one Redis; each sees both.
func TestRedisStoreShared(t *testing.T) {
	srv := redistest.Start(t)
	clk := newClock()
	mx1, mx2 := openRedisStore(t, srv.Addr(), clk, 64<<20), openRedisStore(t, srv.Addr(), clk, 64<<20)
	mx1.Add(rec(clk.Now(), "192.0.2.1", "a@b.example", "", accepted("x@corp.test")))
	mx2.Add(rec(clk.Now().Add(time.Second), "192.0.2.2", "a@b.example", "", accepted("x@corp.test")))
	mx1.Sync()
	mx2.Sync()
	for _, s := range []*RedisStore{mx1, mx2} {
		if got := mustQuery(t, s, Filter{}); len(got) != 2 || got[0].Client != "192.0.2.2" {
			t.Errorf("got %v, want both hosts' records, newest first", got)
		}
	}
	// The day's list expires a day after history_days.
	ttl := srv.Client().TTL(t.Context(), "t:hist:20261207").Val()
	if ttl < 14*24*time.Hour || ttl > 15*24*time.Hour {
		t.Errorf("TTL %v, want 15 days", ttl)
	}
}

func TestRedisStoreCap(t *testing.T) {
	srv := redistest.Start(t)
	clk := newClock()
	// 14 days in 1.4 MiB: a day keeps 100 KiB, about 200 records of ~500 bytes.
	s := openRedisStore(t, srv.Addr(), clk, 1400<<10)
	pad := strings.Repeat("x", 400)
	for i := range 1000 {
		s.Add(rec(clk.Now().Add(time.Duration(i)*time.Millisecond), "192.0.2.1", pad+"@b.example", "", accepted(fmt.Sprintf("r%d@corp.test", i))))
		if i%200 == 199 {
			s.Sync()
		}
	}
	s.Sync()
	n := srv.Client().LLen(t.Context(), "t:hist:20261207").Val()
	perDay := s.perDay()
	if n != perDay || n < 150 || n > 250 {
		t.Errorf("list holds %d records, want the day's share %d (about 200)", n, perDay)
	}
	if c := s.Counters(); c.RemovedSize != uint64(1000-n) || c.Written != 1000 {
		t.Errorf("counters %+v: want %d trimmed", c, 1000-n)
	}
	got := mustQuery(t, s, Filter{Limit: 1})
	if len(got) != 1 || got[0].Recipients[0].Addr != "r999@corp.test" {
		t.Errorf("newest record: %v", got)
	}
}

// TestRedisStoreDown: with Redis gone, records are dropped and counted,
// Add does not block, queries fail with an error, and writes resume.
func TestRedisStoreDown(t *testing.T) {
	srv := redistest.Start(t)
	clk := newClock()
	s := openRedisStore(t, srv.Addr(), clk, 64<<20)
	srv.Kill()
	t0 := time.Now()
	for range 10 {
		s.Add(rec(clk.Now(), "192.0.2.1", "a@b.example", "", accepted("x@corp.test")))
	}
	addTook := time.Since(t0)
	s.Sync()
	if c := s.Counters(); c.DroppedError+c.DroppedFull != 10 || c.Written != 0 {
		t.Errorf("counters %+v: want 10 dropped", c)
	}
	if _, err := s.Query(t.Context(), Filter{}); err == nil {
		t.Error("a query with Redis down succeeded")
	}
	srv.Restart()
	s.Add(rec(clk.Now(), "192.0.2.1", "a@b.example", "", accepted("x@corp.test")))
	s.Sync()
	if c := s.Counters(); c.Written != 1 {
		t.Errorf("counters %+v: writes did not resume", c)
	}
	// Ten Adds cost no round trip: far below one Redis timeout (500 ms).
	if addTook > 100*time.Millisecond {
		t.Errorf("10 Adds took %v with Redis down", addTook)
	}
}

func TestRedisStoreDamage(t *testing.T) {
	srv := redistest.Start(t)
	clk := newClock()
	s := openRedisStore(t, srv.Addr(), clk, 64<<20)
	s.Add(rec(clk.Now(), "192.0.2.1", "a@b.example", "", accepted("x@corp.test")))
	s.Sync()
	srv.Client().RPush(t.Context(), "t:hist:20261207", "junk", "00000000 {}")
	if got := mustQuery(t, s, Filter{}); len(got) != 1 {
		t.Errorf("got %d records, want the one good one", len(got))
	}
	if c := s.Counters(); c.Corrupt != 2 {
		t.Errorf("%d damaged counted, want 2", c.Corrupt)
	}
}
