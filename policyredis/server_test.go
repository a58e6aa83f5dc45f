package policyredis

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"spamgate/internal/redistest"
)

// The harness lives in internal/redistest; these names keep the tests short.
type redisServer = redistest.Server

func startRedis(t testing.TB, extra ...string) *redisServer { return redistest.Start(t, extra...) }

func startServer(t testing.TB, argv func(dir string, port int) []string) *redisServer {
	return redistest.StartWith(t, argv)
}

func freePort(t testing.TB) int { return redistest.FreePort(t) }

// hset writes a policy hash as a panel would: fields are name, value, ….
func hset(t testing.TB, c redis.Cmdable, key string, fields ...string) {
	t.Helper()
	if err := c.HSet(context.Background(), key, fields).Err(); err != nil {
		t.Fatalf("HSET %s: %v", key, err)
	}
}

func del(t testing.TB, c redis.Cmdable, keys ...string) {
	t.Helper()
	if err := c.Del(context.Background(), keys...).Err(); err != nil {
		t.Fatalf("DEL %s: %v", keys, err)
	}
}

// commandCalls returns how many times the server ran cmd (lower case) since
// its statistics were last reset, from INFO commandstats.
func commandCalls(t testing.TB, c *redis.Client, cmd string) int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	prefix := "cmdstat_" + cmd + ":calls="
	for line := range strings.Lines(info) {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			if err != nil {
				t.Fatalf("INFO commandstats line %q: %v", line, err)
			}
			return n
		}
	}
	return 0
}

func resetStats(t testing.TB, c *redis.Client) {
	t.Helper()
	if err := c.ConfigResetStat(context.Background()).Err(); err != nil {
		t.Fatalf("CONFIG RESETSTAT: %v", err)
	}
}

// newSource makes a Source for the test and closes it at the end.
func newSource(t testing.TB, o Options) *Source {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatalf("New(%+v): %v", o, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// wantErr checks that err mentions every one of subs.
func wantErr(t testing.TB, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}
