package redistest

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Migration shapes MigrateSlot: how many keys one MIGRATE moves and how
// long it waits between two, so that a test's load sees the slot half
// moved (ASK redirects, TRYAGAIN for multi-key commands) for a while.
type Migration struct {
	Batch int           // keys per MIGRATE; default 10
	Pause time.Duration // between two MIGRATEs; default 20ms
}

// MigrationStats is what MigrateSlot did.
type MigrationStats struct {
	Keys     int           // keys moved
	Batches  int           // MIGRATE commands sent
	Duration time.Duration // from SETSLOT IMPORTING to the last SETSLOT NODE
}

// MigrateSlot moves slot from one master to another the way
// redis-cli --cluster reshard does, one slot at a time: SETSLOT IMPORTING
// on the target, MIGRATING on the source, MIGRATE of the slot's keys in
// batches, then SETSLOT NODE on the target, the source and every other
// node. Unlike reshard it moves exactly the slot a test cares about, and
// at a pace a concurrent load can overlap. Bounded: it gives up after
// 10,000 batches or 30 s.
func MigrateSlot(ctx context.Context, nodes []*Server, slot int64, from, to *Server, m Migration) (MigrationStats, error) {
	if m.Batch <= 0 {
		m.Batch = 10
	}
	if m.Pause <= 0 {
		m.Pause = 20 * time.Millisecond
	}
	start := time.Now()
	var st MigrationStats
	src, dst := admin(from), admin(to)
	defer src.Close()
	defer dst.Close()
	srcID, err := src.ClusterMyID(ctx).Result()
	if err != nil {
		return st, fmt.Errorf("CLUSTER MYID on %s: %w", from.Addr(), err)
	}
	dstID, err := dst.ClusterMyID(ctx).Result()
	if err != nil {
		return st, fmt.Errorf("CLUSTER MYID on %s: %w", to.Addr(), err)
	}
	// Importing first: a client sent ASK by the source must find the
	// target ready to accept the slot.
	if err := dst.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err(); err != nil {
		return st, fmt.Errorf("SETSLOT %d IMPORTING on %s: %w", slot, to.Addr(), err)
	}
	if err := src.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err(); err != nil {
		return st, fmt.Errorf("SETSLOT %d MIGRATING on %s: %w", slot, from.Addr(), err)
	}
	for st.Batches < 10000 && time.Since(start) < 30*time.Second {
		keys, err := src.ClusterGetKeysInSlot(ctx, int(slot), m.Batch).Result()
		if err != nil {
			return st, fmt.Errorf("GETKEYSINSLOT %d on %s: %w", slot, from.Addr(), err)
		}
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", "127.0.0.1", to.Port(), "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		if err := src.Do(ctx, args...).Err(); err != nil {
			return st, fmt.Errorf("MIGRATE %d keys of slot %d to %s: %w", len(keys), slot, to.Addr(), err)
		}
		st.Keys += len(keys)
		st.Batches++
		time.Sleep(m.Pause)
	}
	// Target first, then source (as redis-cli does): the slot is never
	// owned by nobody.
	for _, n := range append([]*Server{to, from}, others(nodes, from, to)...) {
		c := admin(n)
		err := c.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err()
		c.Close()
		if err != nil {
			return st, fmt.Errorf("SETSLOT %d NODE on %s: %w", slot, n.Addr(), err)
		}
	}
	st.Duration = time.Since(start)
	return st, nil
}

// admin is a plain client to one node, without the test's cleanup.
func admin(s *Server) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
}

// others are the nodes except a and b.
func others(nodes []*Server, a, b *Server) []*Server {
	var out []*Server
	for _, n := range nodes {
		if n != a && n != b {
			out = append(out, n)
		}
	}
	return out
}
