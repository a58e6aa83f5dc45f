package redistest

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestStartCluster checks that the cluster serves keys of every slot range
// through a cluster client given a single seed node.
func TestStartCluster(t *testing.T) {
	nodes := StartCluster(t, 3)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{nodes[0].Addr()}})
	defer cc.Close()
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		if err := cc.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	var masters atomic.Int32 // ForEachMaster calls fn concurrently
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		masters.Add(1)
		return c.Ping(ctx).Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if m := masters.Load(); m != 3 {
		t.Errorf("ForEachMaster visited %d masters, want 3", m)
	}
}
