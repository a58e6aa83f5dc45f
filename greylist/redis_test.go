package greylist

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"spamgate/internal/redistest"
)

// testPrefix is a key prefix of its own for each test, of fixed length so
// that no prefix is the start of another (Counts scans prefix*).
func testPrefix(t *testing.T) string { return "gl:" + hashHex(t.Name())[:8] + ":" }

func newRedis(t testing.TB, o RedisOptions) *Redis {
	t.Helper()
	s, err := NewRedis(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestRedisSuite(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	runSuite(t, func(t *testing.T, clk *clock) Store {
		return newRedis(t, RedisOptions{Addresses: []string{srv.Addr()}, KeyPrefix: testPrefix(t), Now: clk.Now, Timeout: time.Second})
	})
}

func TestRedisClusterSuite(t *testing.T) {
	t.Parallel()
	nodes := redistest.StartCluster(t, 3)
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.Addr())
	}
	runSuite(t, func(t *testing.T, clk *clock) Store {
		return newRedis(t, RedisOptions{Addresses: addrs, Cluster: true, KeyPrefix: testPrefix(t), Now: clk.Now, Timeout: time.Second})
	})
}

// TestRedisKeys checks that every key has a TTL matching the policy and
// that no key holds an address in clear.
func TestRedisKeys(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	prefix := testPrefix(t)
	s := newRedis(t, RedisOptions{Addresses: []string{srv.Addr()}, KeyPrefix: prefix})
	ctx := context.Background()
	p := Params{Delay: time.Second}.WithDefaults()
	r := Request{Client: netip.MustParseAddr("192.0.2.55"), Sender: "alice@sender.example", Rcpt: "bob@rcpt.example"}
	k := MakeKey(r, p)
	if d, err := s.Check(ctx, k, p); err != nil || d.Reason != ReasonNew {
		t.Fatalf("Check = %+v, %v; want new", d, err)
	}
	rc := srv.Client()
	tk, ak := s.keys(k)
	assertPTTL(t, rc, tk, p.RetryWindow)
	if err := s.Release(ctx, k, p); err != nil {
		t.Fatal(err)
	}
	assertPTTL(t, rc, tk, p.PassTTL)
	// A real pass with the server's clock, to create the AWL key too.
	k2 := MakeKey(Request{Client: r.Client, Sender: "carol@sender.example", Rcpt: "bob@rcpt.example"}, p)
	if _, err := s.Check(ctx, k2, p); err != nil {
		t.Fatal(err)
	}
	time.Sleep(p.Delay + 10*time.Millisecond) // the server's clock: the only sleep
	if d, err := s.Check(ctx, k2, p); err != nil || d.Reason != ReasonPass {
		t.Fatalf("Check after the delay = %+v, %v; want pass", d, err)
	}
	assertPTTL(t, rc, ak, p.AWLTTL)
	if err := s.AddWhitelist(ctx, WhitelistEntry{Kind: KindDomain, Value: "wl.example"}); err != nil {
		t.Fatal(err)
	}
	keys, err := rc.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 { // two triplets, one AWL counter, one whitelist hash
		t.Errorf("keys = %q, want 4", keys)
	}
	for _, key := range keys {
		for _, clear := range []string{"alice", "carol", "bob", "sender.example", "rcpt.example", "192.0.2", "net:"} {
			if strings.Contains(key, clear) {
				t.Errorf("key %q contains %q in clear", key, clear)
			}
		}
		if strings.Contains(key, ":wl:") {
			continue // the whitelist is admin data, kept without TTL on purpose
		}
		if ttl := rc.PTTL(ctx, key).Val(); ttl <= 0 {
			t.Errorf("key %q has PTTL %v, want > 0", key, ttl)
		}
		if v := rc.HGetAll(ctx, key).Val(); strings.Contains(strings.Join(mapValues(v), " "), "alice") {
			t.Errorf("hash %q holds %v", key, v)
		}
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k, v)
	}
	return out
}

func assertPTTL(t *testing.T, rc *redis.Client, key string, want time.Duration) {
	t.Helper()
	got, err := rc.PTTL(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if got > want || got < want-5*time.Second {
		t.Errorf("PTTL %s = %v, want about %v", key, got, want)
	}
}

// TestRedisSharedState runs two Checkers, each with its own client, on one
// server, as two MX hosts would.
func TestRedisSharedState(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	clk := newClock()
	prefix := testPrefix(t)
	o := RedisOptions{Addresses: []string{srv.Addr()}, KeyPrefix: prefix, Now: clk.Now}
	co := CheckerOptions{Now: clk.Now, Timeout: time.Second}
	a := NewChecker(newRedis(t, o), co, nil)
	b := NewChecker(newRedis(t, o), co, nil)
	ctx := context.Background()
	r := Request{Client: netip.MustParseAddr("192.0.2.1"), Sender: "a@example.com", Rcpt: "b@example.org"}
	if d, err := a.Check(ctx, r); err != nil || d.Allowed || d.Reason != ReasonNew {
		t.Fatalf("A: Check = %+v, %v; want new", d, err)
	}
	r.Client = netip.MustParseAddr("192.0.2.2") // same /24: another host of the sender's pool
	if d, err := b.Check(ctx, r); err != nil || d.Reason != ReasonEarly {
		t.Fatalf("B at once: Check = %+v, %v; want early", d, err)
	}
	clk.Advance(DefaultDelay)
	if d, err := b.Check(ctx, r); err != nil || !d.Allowed || d.Reason != ReasonPass {
		t.Fatalf("B after the delay: Check = %+v, %v; want pass", d, err)
	}
	// A dynamic whitelist entry added via A reaches B at its next refresh.
	if err := a.Store().AddWhitelist(ctx, WhitelistEntry{Kind: KindNetwork, Value: "203.0.113.0/24"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	r.Client = netip.MustParseAddr("203.0.113.9")
	if d, err := b.Check(ctx, r); err != nil || d.Reason != ReasonWhitelist {
		t.Fatalf("B, whitelisted network: Check = %+v, %v; want whitelist", d, err)
	}
}

func TestRedisOptions(t *testing.T) {
	ok := []string{"127.0.0.1:6379"}
	two := []string{"127.0.0.1:6379", "127.0.0.1:6380"}
	for _, tc := range []struct {
		name string
		o    RedisOptions
		want string // part of the error; "" for none
	}{
		{"single", RedisOptions{Addresses: ok}, ""},
		{"two without cluster", RedisOptions{Addresses: two}, "2 addresses for a single server"},
		{"cluster", RedisOptions{Addresses: two, Cluster: true}, ""},
		{"cluster db", RedisOptions{Addresses: two, Cluster: true, DB: 1}, "only database 0"},
		{"sentinel and cluster", RedisOptions{Addresses: two, Cluster: true, MasterName: "m"}, "exclude each other"},
		{"no address", RedisOptions{}, "no address"},
		{"bare host", RedisOptions{Addresses: []string{"127.0.0.1"}}, "want HOST:PORT"},
		{"ca without tls", RedisOptions{Addresses: ok, TLSCAFile: "/x"}, "tls_ca_file without tls"},
		{"missing ca", RedisOptions{Addresses: ok, TLS: true, TLSCAFile: "/nonexistent/ca.pem"}, "tls_ca_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewRedis(tc.o)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				_ = s.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewRedis error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestRedisClientModes checks that the mode is the one configured, not
// one guessed from the number of addresses: MasterName builds a failover
// client, which asks the sentinels for the master.
func TestRedisClientModes(t *testing.T) {
	two := []string{"127.0.0.1:26379", "127.0.0.1:26380"}
	sentinel := newRedis(t, RedisOptions{Addresses: two, MasterName: "mymaster", Timeout: 50 * time.Millisecond})
	if c, ok := sentinel.rdb.(*redis.Client); !ok || c.Options().Addr != "FailoverClient" {
		t.Errorf("MasterName: client %T (%v), want a failover *redis.Client", sentinel.rdb, sentinel.rdb)
	}
	if want := `master "mymaster" via sentinels`; !strings.Contains(sentinel.where, want) {
		t.Errorf("where = %q, want %q in it", sentinel.where, want)
	}
	cluster := newRedis(t, RedisOptions{Addresses: two, Cluster: true})
	if _, ok := cluster.rdb.(*redis.ClusterClient); !ok {
		t.Errorf("Cluster: client %T, want *redis.ClusterClient", cluster.rdb)
	}
	single := newRedis(t, RedisOptions{Addresses: two[:1]})
	if c, ok := single.rdb.(*redis.Client); !ok || c.Options().Addr != two[0] {
		t.Errorf("single: client %T, want *redis.Client of %s", single.rdb, two[0])
	}
	tlsStore := newRedis(t, RedisOptions{Addresses: two[:1], TLS: true})
	if c := tlsStore.rdb.(*redis.Client); c.Options().TLSConfig == nil {
		t.Error("TLS: no TLS config")
	}
}
