package redistest

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// A replica behind a Link gets the master's writes (WAIT counts it);
// once the link is cut, it gets nothing more: what the replication loss
// benchmark relies on.
func TestLinkReplicatesUntilCut(t *testing.T) {
	t.Parallel()
	master := Start(t, "--repl-diskless-sync-delay", "0")
	l := StartLink(t, master.Addr(), 5*time.Millisecond)
	replica := Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(l.Port()))
	waitReplicaLink(t, replica, 5*time.Second)
	ctx := context.Background()
	m, r := master.Client(), replica.Client()
	if err := m.Set(ctx, "before", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := m.Do(ctx, "WAIT", 1, 2000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 through the link: %d, %v", n, err)
	}
	l.Cut()
	if err := m.Set(ctx, "after", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // 20 times the link's delay
	if n, err := r.Exists(ctx, "before", "after").Result(); err != nil || n != 1 {
		t.Errorf("replica has %d of the keys written before and after the cut (%v), want 1: before only", n, err)
	}
}
