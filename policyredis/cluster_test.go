package policyredis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"spamgate/internal/redistest"
	"spamgate/policy"
)

// startCluster starts a Redis Cluster of three masters on loopback, the
// 16384 slots split between them, and waits until every node says it is
// ok. It returns the nodes and, for each, its first and last slot.
func startCluster(t *testing.T) ([]*redisServer, [][2]int) {
	t.Helper()
	slots := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	nodes := make([]*redisServer, len(slots))
	bus := make([]int, len(slots)) // the cluster bus ports, for CLUSTER MEET
	for i := range nodes {
		nodes[i] = startServer(t, func(dir string, port int) []string {
			bus[i] = freePort(t)
			return []string{redistest.Binary,
				"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
				"--save", "", "--appendonly", "no", "--dir", dir,
				"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus[i]),
				"--cluster-config-file", dir + "/nodes.conf",
			}
		})
	}
	ctx := context.Background()
	for i, n := range nodes {
		if err := n.Client().Do(ctx, "CLUSTER", "ADDSLOTSRANGE", slots[i][0], slots[i][1]).Err(); err != nil {
			t.Fatalf("CLUSTER ADDSLOTSRANGE on node %d: %v", i, err)
		}
		if i > 0 {
			if err := nodes[0].Client().Do(ctx, "CLUSTER", "MEET", "127.0.0.1", n.Port(), bus[i]).Err(); err != nil {
				t.Fatalf("CLUSTER MEET node %d: %v", i, err)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for i, n := range nodes {
		for {
			info, err := n.Client().ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_known_nodes:3") && strings.Contains(info, "cluster_slots_ok:16384") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %d not ready after 10s: %v\n%s", i, err, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nodes, slots
}

// TestLookupCluster checks that a Lookup whose keys live on every node of a
// Cluster is still one pipeline, split by go-redis into one batch per node,
// and finds the most specific key wherever it lives.
func TestLookupCluster(t *testing.T) {
	t.Parallel()
	nodes, slots := startCluster(t)
	ctx := context.Background()
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.Addr())
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = cc.Close() })

	const rcpt = "bob+lists@a.sub.example.org"
	keys := policy.Keys(rcpt)
	holders := map[int]bool{} // nodes holding some key of rcpt
	for _, k := range keys {
		slot, err := nodes[0].Client().ClusterKeySlot(ctx, DefaultKeyPrefix+k).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT: %v", err)
		}
		for i, r := range slots {
			if int(slot) >= r[0] && int(slot) <= r[1] {
				holders[i] = true
			}
		}
		hset(t, cc, DefaultKeyPrefix+k, "reply_text", "rule for "+k)
	}
	if len(holders) != len(nodes) {
		t.Fatalf("the keys of %s are on %d nodes of %d: pick a recipient that spreads them", rcpt, len(holders), len(nodes))
	}

	// One seed node is enough: go-redis learns the others from it.
	s := newSource(t, Options{Addresses: addrs[:1], Cluster: true})
	var calls callCounter
	s.rdb.AddHook(&calls)
	if _, err := s.Lookup(ctx, rcpt); err != nil { // connects and loads the slot map
		t.Fatal(err)
	}
	for i, key := range keys {
		calls.reset()
		for _, n := range nodes {
			resetStats(t, n.Client())
		}
		r, err := s.Lookup(ctx, rcpt)
		if err != nil {
			t.Fatalf("Lookup with %s the most specific key: %v", key, err)
		}
		if got(r) != key || r.ReplyText != "rule for "+key {
			t.Errorf("Lookup = rule for %s (%q), want %s", got(r), r.ReplyText, key)
		}
		if p, c := calls.pipelines.Load(), calls.single.Load(); p != 1 || c != 0 {
			t.Errorf("Lookup sent %d pipelines and %d single commands, want 1 and 0", p, c)
		}
		var per []string
		total := 0
		for j, n := range nodes {
			c := commandCalls(t, n.Client(), "hgetall")
			total += c
			if c == 0 {
				t.Errorf("node %d, which holds keys of %s, got no HGETALL", j, rcpt)
			}
			per = append(per, fmt.Sprint(c))
		}
		if total != len(keys) {
			t.Errorf("the nodes ran HGETALL %s times, %d in all; want %d, one per key", strings.Join(per, "+"), total, len(keys))
		}
		if i == 0 {
			t.Logf("HGETALL per node: %s", strings.Join(per, "+"))
		}
		del(t, cc, DefaultKeyPrefix+key) // the next less specific key now applies
	}
	if r, err := s.Lookup(ctx, rcpt); r != nil || err != nil {
		t.Errorf("Lookup with no key left = %s, %v; want nil, nil", got(r), err)
	}
}
