package greylist

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"spamgate/internal/redistest"
)

// A Redis Cluster of three masters with a replica each. The master that
// holds a client's slot is killed while checks go on through the Checker
// (breaker included); its replica is promoted and the checks use the
// cluster again within a few seconds; the triplet written before the kill
// (and replicated: WAIT 1) is still there; a triplet and its client's
// counter are in one slot, as the check script needs.
func TestRedisClusterFailover(t *testing.T) {
	t.Parallel()
	nodes := redistest.StartClusterReplicas(t, 3, 1)
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr()
	}
	s := newRedis(t, RedisOptions{Addresses: addrs, Cluster: true, KeyPrefix: testPrefix(t), Timeout: 200 * time.Millisecond})
	c := NewChecker(s, CheckerOptions{Params: Params{Delay: time.Second}, Timeout: 200 * time.Millisecond}, quietLogger())
	ctx := context.Background()
	req := func(i int) Request {
		return Request{Client: netip.MustParseAddr("192.0.2.33"), Sender: "s@sender.example", Rcpt: fmt.Sprintf("r%d@rcpt.example", i)}
	}

	if d, err := c.Check(ctx, req(0)); err != nil || d.Reason != ReasonNew {
		t.Fatalf("first check: %+v, %v", d, err)
	}
	tk, ak := s.keys(MakeKey(req(0), c.o.Params))
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs[:1]})
	defer cc.Close()
	ts, err1 := cc.ClusterKeySlot(ctx, tk).Result()
	as, err2 := cc.ClusterKeySlot(ctx, ak).Result()
	if err1 != nil || err2 != nil || ts != as {
		t.Fatalf("triplet key in slot %d, its counter in slot %d (%v, %v): the script needs one slot", ts, as, err1, err2)
	}
	master, err := cc.MasterForKey(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := master.Do(ctx, "WAIT", 1, 2000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 on %s: %d, %v", master.Options().Addr, n, err)
	}
	victim := redistest.NodeFor(nodes, master.Options().Addr)
	if victim == nil {
		t.Fatalf("master %s of slot %d is none of the nodes", master.Options().Addr, ts)
	}

	killed := time.Now()
	victim.Kill()
	promoted := watchPromotion(t, nodes, victim, ts)
	var (
		firstOK      time.Time
		tries, fails int
		ok           int
		// at the first success
		triesBefore, failsBefore int
	)
	// Bounded: 15 s or 2000 checks, whichever ends first; every check is
	// on the dead master's slot (same client key, same hash tag).
	for i := 1; i <= 2000 && time.Since(killed) < 15*time.Second && ok < 5; i++ {
		start := time.Now()
		_, err := c.Check(ctx, req(i))
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("check %d took %v", i, d)
		}
		tries++
		if err != nil {
			fails++
		} else {
			if firstOK.IsZero() {
				firstOK, triesBefore, failsBefore = time.Now(), tries, fails
			}
			ok++
		}
		time.Sleep(20 * time.Millisecond)
	}
	if firstOK.IsZero() {
		t.Fatalf("no check succeeded within 15 s of killing master %s (%d tries)", victim.Addr(), tries)
	}
	p := <-promoted
	if p.IsZero() {
		t.Fatal("no replica took over the slot")
	}
	t.Logf("CLUSTER FAILOVER: master of slot %d killed; replica promoted %v later; first check answered by the cluster %v after the promotion; "+
		"%d checks until then, %d failed (fell back)",
		ts, p.Sub(killed).Round(time.Millisecond), firstOK.Sub(p).Round(time.Millisecond), triesBefore, failsBefore)
	if d := firstOK.Sub(p); d > 10*time.Second {
		t.Errorf("checks used the cluster again only %v after the promotion", d)
	}
	e, err := s.Status(ctx, MakeKey(req(0), c.o.Params))
	if err != nil || e.FirstSeen.IsZero() {
		t.Errorf("triplet written before the kill: %+v, %v; want it known", e, err)
	}
}

// watchPromotion polls a surviving node until slot is served by another
// node than victim; the channel gets when it saw that (zero after 15 s).
func watchPromotion(t *testing.T, nodes []*redistest.Server, victim *redistest.Server, slot int64) <-chan time.Time {
	var other *redistest.Server
	for _, n := range nodes {
		if n != victim {
			other = n
			break
		}
	}
	c := other.Client()
	out := make(chan time.Time, 1)
	go func() {
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			ranges, err := c.ClusterSlots(context.Background()).Result()
			if err == nil {
				for _, r := range ranges {
					if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 && r.Nodes[0].Addr != victim.Addr() {
						out <- time.Now()
						return
					}
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		out <- time.Time{}
	}()
	return out
}
