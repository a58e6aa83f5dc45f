package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"spamgate/greylist"
	"spamgate/internal/redistest"
)

// Two MX hosts share a Redis Cluster; the slot holding their greylist
// state (one client, so one hash tag) moves to another master while
// transactions go through both. None hangs or is refused because of the
// move, both use the cluster again soon after it, and the triplets
// greylisted before it are known afterwards (their retries pass). The
// figures go to the test log (docs/FAILOVER.md).
func TestGreylistClusterSlotMigration(t *testing.T) {
	t.Parallel()
	nodes := redistest.StartCluster(t, 3)
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr()
	}
	gl := fmt.Sprintf("[greylist]\nmode = \"suspicious\"\ndelay = \"1s\"\nstore = \"redis\"\ntimeout = \"200ms\"\n"+
		"[greylist.redis]\naddresses = [\"%s\"]\ncluster = true\n", strings.Join(addrs, `", "`))
	a := startRigOpts(t, rigOptions{greylist: gl, log: &logBuffer{}})
	b := startRigOpts(t, rigOptions{greylist: gl, log: &logBuffer{}})

	const pre = 20
	for i := range pre {
		rcpt := fmt.Sprintf("pre%d@example.net", i)
		wantReply(t, a.run(t, suspiciousTx(rcpt)), rcpt, replyGreylisted, "before the migration")
	}
	written := time.Now()
	ctx := context.Background()
	slot, from := greylistSlot(t, nodes)
	to := nodes[0]
	if to == from {
		to = nodes[1]
	}

	var (
		mu     sync.Mutex
		migEnd time.Time
		stats  redistest.MigrationStats
		merr   error
	)
	started := time.Now()
	go func() {
		// One key a MIGRATE, 40 ms apart: the move lasts about a
		// second, long enough for transactions to meet it half done.
		st, err := redistest.MigrateSlot(ctx, nodes, slot, from, to, redistest.Migration{Batch: 1, Pause: 40 * time.Millisecond})
		mu.Lock()
		stats, merr, migEnd = st, err, time.Now()
		mu.Unlock()
	}()
	ended := func() time.Time { mu.Lock(); defer mu.Unlock(); return migEnd }
	// Each daemon runs until it used Redis 5 times after the move, at
	// most 10 s after it began.
	stop := func(r *failoverRun) bool {
		end := ended()
		if time.Since(started) > 10*time.Second {
			return true
		}
		return !end.IsZero() && r.usedSince(end) >= 5
	}
	runs := loopBoth(t, a, b, "mig", 1000, stop)
	end := ended()
	if merr != nil || end.IsZero() {
		t.Fatalf("migration of slot %d: %v (ended %v)", slot, merr, end)
	}
	t.Logf("SLOT MIGRATION (daemons): slot %d, %d keys in %d MIGRATEs, moved in %v",
		slot, stats.Keys, stats.Batches, stats.Duration.Round(time.Millisecond))

	for _, r := range runs {
		slowest := r.checkServed(t, "during a slot migration")
		n, fell := r.between(started, end)
		used, ok := r.firstUseAfter(end)
		if !ok {
			t.Errorf("%s never used the cluster after the migration (%d transactions)", r.name, len(r.txs))
			continue
		}
		after, fellAfter := r.between(end, used)
		t.Logf("SLOT MIGRATION (daemons): %s: %d transactions during the move, %d fell back; cluster used again %v after it "+
			"(%d fell back until then of %d); slowest transaction %v",
			r.name, n, fell, used.Sub(end).Round(time.Millisecond), fellAfter, after, slowest.Round(time.Millisecond))
	}

	// The triplets greylisted before the move are on the new master:
	// known, and a retry after the delay passes, through the other host.
	time.Sleep(time.Until(written.Add(1100 * time.Millisecond)))
	for i := range pre {
		req := greylist.Request{Client: netip.MustParseAddr("192.0.2.20"), SPFDomain: "good.test", Sender: "user@good.test",
			Rcpt: fmt.Sprintf("pre%d@example.net", i)}
		if d, err := b.d.Engine().Greylist().Peek(ctx, req); err != nil || d.Reason == greylist.ReasonNew {
			t.Errorf("pre%d after the migration: %+v, %v; want it known", i, d, err)
		}
	}
	wantAccepted(t, b.run(t, suspiciousTx("pre0@example.net")), "pre0@example.net", "retry after the migration")
	if n, err := from.Client().ClusterCountKeysInSlot(ctx, int(slot)).Result(); err != nil || n != 0 {
		t.Errorf("old master still holds %d keys of slot %d (%v)", n, slot, err)
	}
}

// greylistSlot is the slot of the greylist keys and the master holding
// them: every transaction of these tests comes from one client, so all
// its keys share one hash tag.
func greylistSlot(t *testing.T, nodes []*redistest.Server) (int64, *redistest.Server) {
	t.Helper()
	ctx := context.Background()
	for _, n := range nodes {
		c := n.Client()
		keys, err := c.Keys(ctx, "*}:t:*").Result() // triplets only
		if err != nil {
			t.Fatalf("KEYS on %s: %v", n.Addr(), err)
		}
		if len(keys) == 0 {
			continue
		}
		slot, err := c.ClusterKeySlot(ctx, keys[0]).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys[1:] {
			if s, _ := c.ClusterKeySlot(ctx, k).Result(); s != slot {
				t.Fatalf("greylist keys %s and %s in slots %d and %d: one client's keys must share a slot", keys[0], k, slot, s)
			}
		}
		return slot, n
	}
	t.Fatal("no greylist key on any node")
	return 0, nil
}
