package greylist

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"spamgate/internal/redistest"
)

func benchKeys(n int) []Key {
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = MakeKey(Request{
			Client: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
			Sender: fmt.Sprintf("s%d@example.com", i), Rcpt: "r@example.org",
		}, Params{})
	}
	return keys
}

func benchStore(b *testing.B, s Store) {
	keys := benchKeys(4096)
	ctx := context.Background()
	p := Params{}.WithDefaults()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Check(ctx, keys[i%len(keys)], p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisCheck is the latency of one check against a local
// redis-server; roundtrips/check is what the server counted (EVALSHA and
// EVAL calls), so a second round trip would show.
func BenchmarkRedisCheck(b *testing.B) {
	srv := redistest.Start(b)
	s, err := NewRedis(RedisOptions{Addresses: []string{srv.Addr()}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rc := srv.Client()
	ctx := context.Background()
	_ = s.Ping(ctx) // connect outside the measurement
	before := scriptCalls(b, rc)
	benchStore(b, s)
	b.StopTimer()
	b.ReportMetric(float64(scriptCalls(b, rc)-before)/float64(b.N), "roundtrips/check")
}

func BenchmarkMemoryCheck(b *testing.B) {
	m, err := NewMemory(MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	benchStore(b, m)
}

// scriptCalls is the number of EVALSHA and EVAL calls the server ran.
func scriptCalls(b *testing.B, rc *redis.Client) int {
	info, err := rc.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for line := range strings.SplitSeq(info, "\n") {
		if !strings.HasPrefix(line, "cmdstat_evalsha:") && !strings.HasPrefix(line, "cmdstat_eval:") {
			continue
		}
		_, rest, _ := strings.Cut(line, "calls=")
		v, _, _ := strings.Cut(rest, ",")
		c, _ := strconv.Atoi(v)
		n += c
	}
	return n
}
