package greylist

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"spamgate/internal/redistest"
)

// migrationLoad is what the checks running during a slot migration saw.
type migrationLoad struct {
	mu                 sync.Mutex
	checks, fellBack   int
	known, lost        int      // re-checks of triplets written before
	written            []string // recipients of new triplets the store acknowledged
	slowest            time.Duration
	duringMig, fellMig int       // checks started while the slot was moving, and their failures
	errs               []string  // the first store errors (not breaker refusals)
	migEnd, firstOK    time.Time // the migration's end; the first check the cluster answered after it
	okAfter            int       // checks the cluster answered after the migration
}

// The slot holding a client's triplets is moved from one master to
// another (SETSLOT IMPORTING/MIGRATING, MIGRATE in batches, SETSLOT NODE)
// while two goroutines run greylist checks on it through the Checker:
// new triplets and re-checks of triplets written before. No check hangs;
// go-redis follows the ASK redirects (the target counts ASKING) and the
// MOVED after; every triplet written before or acknowledged during the
// migration is known afterwards, on the new master, and checks use the
// cluster again within the breaker's open period of the end.
//
// Checks do fall back while the slot moves: the check script has two keys
// (triplet and the client's counter) and Redis answers TRYAGAIN to a
// multi-key command while one is moved and the other not; five of those
// open the breaker (for every slot) for breaker_open. The test records
// how many fell back with the default breaker and with one that never
// opens (which shows the TRYAGAINs alone), in docs/FAILOVER.md.
func TestRedisClusterSlotMigration(t *testing.T) {
	t.Parallel()
	slow := redistest.Migration{Batch: 5, Pause: 20 * time.Millisecond}
	// redis-cli --cluster reshard's pace: 10 keys a MIGRATE, no pause.
	fast := redistest.Migration{Batch: 10, Pause: time.Microsecond}
	// One cluster for the cases, each on its own client's slot: a
	// cluster takes a second or two to start.
	nodes := redistest.StartCluster(t, 3)
	for _, tc := range []struct {
		name       string
		client     string // whose triplets' slot moves
		breaker    BreakerOptions
		pace       redistest.Migration
		minOverlap int // checks that must run while the slot moves
	}{
		{"slow, default breaker", "192.0.2.44", BreakerOptions{}, slow, 10},
		{"slow, breaker never opens", "198.51.100.7", BreakerOptions{Failures: 1 << 30}, slow, 10},
		{"reshard pace, default breaker", "203.0.113.9", BreakerOptions{}, fast, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testSlotMigration(t, nodes, netip.MustParseAddr(tc.client), tc.breaker, tc.pace, tc.minOverlap)
		})
	}
}

func testSlotMigration(t *testing.T, nodes []*redistest.Server, client netip.Addr, breaker BreakerOptions, pace redistest.Migration, minOverlap int) {
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr()
	}
	s := newRedis(t, RedisOptions{Addresses: addrs, Cluster: true, KeyPrefix: testPrefix(t), Timeout: 200 * time.Millisecond})
	params := Params{Delay: 200 * time.Millisecond, AWLCount: 1000}
	c := NewChecker(s, CheckerOptions{Params: params, Timeout: 200 * time.Millisecond, Breaker: breaker}, quietLogger())
	ctx := context.Background()
	req := func(rcpt string) Request {
		return Request{Client: client, Sender: "s@sender.example", Rcpt: rcpt + "@rcpt.example"}
	}

	// Before: 200 triplets of one client (one slot), 50 of them passed
	// (so the client's auto-whitelist counter exists too).
	const pre, passed = 200, 50
	for i := range pre {
		if d, err := c.Check(ctx, req(fmt.Sprintf("pre%d", i))); err != nil || d.Reason != ReasonNew {
			t.Fatalf("pre%d: %+v, %v", i, d, err)
		}
	}
	time.Sleep(params.Delay + 50*time.Millisecond)
	for i := range passed {
		if d, err := c.Check(ctx, req(fmt.Sprintf("pre%d", i))); err != nil || d.Reason != ReasonPass {
			t.Fatalf("pre%d retried: %+v, %v", i, d, err)
		}
	}

	slot, from, to := migrationEnds(t, s, nodes, MakeKey(req("pre0"), c.o.Params))
	asking0 := askingCalls(t, to)

	var (
		load   = migrationLoad{}
		done   = make(chan struct{})
		stats  redistest.MigrationStats
		merr   error
		ctxMig = ctx
	)
	go func() {
		defer close(done)
		stats, merr = redistest.MigrateSlot(ctxMig, nodes, slot, from, to, pace)
		load.mu.Lock()
		load.migEnd = time.Now()
		load.mu.Unlock()
	}()
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() { runMigrationLoad(ctx, c, req, &load, g, pre, done) })
	}
	wg.Wait()
	if merr != nil {
		t.Fatalf("migration: %v", merr)
	}

	asking := askingCalls(t, to) - asking0
	back := "never"
	if !load.firstOK.IsZero() {
		back = load.firstOK.Sub(load.migEnd).Round(time.Millisecond).String() + " after"
	}
	t.Logf("SLOT MIGRATION (%s): slot %d (%d keys, %d MIGRATEs) moved in %v; %d checks while the slot was moving, %d fell back; "+
		"cluster used again %s the end (%d fell back after it); re-checks of earlier triplets: %d known, %d lost; ASKING on the target: %d; "+
		"slowest check %v; %d checks in all",
		t.Name(), slot, stats.Keys, stats.Batches, stats.Duration.Round(time.Millisecond), load.duringMig, load.fellMig,
		back, load.fellBack-load.fellMig, load.known, load.lost, asking, load.slowest.Round(time.Millisecond), load.checks)
	t.Logf("SLOT MIGRATION: first store errors: %q", load.errs)

	if load.slowest > 2*time.Second {
		t.Errorf("slowest check took %v: a migration must not hang checks", load.slowest)
	}
	if load.lost > 0 {
		t.Errorf("%d re-checks found a triplet written before the migration unknown", load.lost)
	}
	if load.duringMig < minOverlap {
		t.Errorf("only %d checks overlapped the migration: the test did not test it", load.duringMig)
	}
	if load.firstOK.IsZero() {
		t.Errorf("no check answered by the cluster within 5 s of the migration's end")
	}
	// At redis-cli's pace few checks overlap, and may all come before
	// the first key moved: no ASK to require then.
	if asking == 0 && load.duringMig >= 10 {
		t.Errorf("the target %s got no ASKING: no check was redirected during the migration", to.Addr())
	}
	checkMigrated(t, ctx, s, c, req, slot, from, to, pre, load.written)
}

// migrationEnds finds the slot of k's keys (checking that the triplet
// and its counter share it, as the script needs), the master serving it
// and another master to move it to.
func migrationEnds(t *testing.T, s *Redis, nodes []*redistest.Server, k Key) (slot int64, from, to *redistest.Server) {
	t.Helper()
	ctx := context.Background()
	tk, ak := s.keys(k)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{nodes[0].Addr()}})
	defer cc.Close()
	ts, err1 := cc.ClusterKeySlot(ctx, tk).Result()
	as, err2 := cc.ClusterKeySlot(ctx, ak).Result()
	if err1 != nil || err2 != nil || ts != as {
		t.Fatalf("triplet key in slot %d, its counter in slot %d (%v, %v): the script needs one slot", ts, as, err1, err2)
	}
	m, err := cc.MasterForKey(ctx, tk)
	if err != nil {
		t.Fatal(err)
	}
	from = redistest.NodeFor(nodes, m.Options().Addr)
	for _, n := range nodes {
		if n != from {
			to = n
			break
		}
	}
	if from == nil || to == nil {
		t.Fatalf("master of slot %d (%s) is none of the nodes", ts, m.Options().Addr)
	}
	return ts, from, to
}

// runMigrationLoad alternates new triplets and re-checks of the earlier
// ones until the migration is done and five checks after it were
// answered by the cluster; bounded to 3000 checks per goroutine and 5 s
// after the migration.
func runMigrationLoad(ctx context.Context, c *Checker, req func(string) Request, l *migrationLoad, g, pre int, done <-chan struct{}) {
	for i := 0; i < 3000; i++ {
		moving := true
		select {
		case <-done:
			moving = false
		default:
		}
		l.mu.Lock()
		enough := !moving && (l.okAfter >= 5 || time.Since(l.migEnd) > 5*time.Second)
		l.mu.Unlock()
		if enough {
			return
		}
		rcpt := fmt.Sprintf("g%d-new%d", g, i)
		recheck := i%2 == 1
		if recheck {
			rcpt = fmt.Sprintf("pre%d", (i*7+g)%pre)
		}
		start := time.Now()
		d, err := c.Check(ctx, req(rcpt))
		l.record(start, moving, recheck, rcpt, d, err)
		time.Sleep(5 * time.Millisecond)
	}
}

// record counts one check of the load.
func (l *migrationLoad) record(start time.Time, moving, recheck bool, rcpt string, d Decision, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checks++
	l.slowest = max(l.slowest, time.Since(start))
	if moving {
		l.duringMig++
	}
	if err != nil {
		if !errors.Is(err, ErrUnavailable) && len(l.errs) < 3 {
			l.errs = append(l.errs, err.Error())
		}
		l.fellBack++
		if moving {
			l.fellMig++
		}
		return
	}
	if !moving {
		if l.firstOK.IsZero() {
			l.firstOK = time.Now()
		}
		l.okAfter++
	}
	switch {
	case recheck && d.Reason == ReasonNew:
		l.lost++
	case recheck:
		l.known++
	case d.Reason == ReasonNew:
		l.written = append(l.written, rcpt)
	}
}

// checkMigrated: the slot is served by the target on every node's map,
// the source holds none of its keys, and every triplet written before or
// acknowledged during the migration is known.
func checkMigrated(t *testing.T, ctx context.Context, s *Redis, c *Checker, req func(string) Request, slot int64, from, to *redistest.Server, pre int, written []string) {
	t.Helper()
	ranges, err := from.Client().ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	owner := ""
	for _, r := range ranges {
		if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 {
			owner = r.Nodes[0].Addr
		}
	}
	if owner != to.Addr() {
		t.Errorf("slot %d served by %q after the migration, want %s", slot, owner, to.Addr())
	}
	if n, err := from.Client().ClusterCountKeysInSlot(ctx, int(slot)).Result(); err != nil || n != 0 {
		t.Errorf("source still holds %d keys of slot %d (%v)", n, slot, err)
	}
	missing := 0
	rcpts := append([]string(nil), written...)
	for i := range pre {
		rcpts = append(rcpts, fmt.Sprintf("pre%d", i))
	}
	for _, r := range rcpts {
		e, err := s.Status(ctx, MakeKey(req(r), c.o.Params))
		if err != nil {
			t.Fatalf("status of %s after the migration: %v", r, err)
		}
		if e.FirstSeen.IsZero() {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d triplets (%d written during the migration) unknown after it", missing, len(rcpts), len(written))
	}
}

var askingRE = regexp.MustCompile(`cmdstat_asking:calls=(\d+)`)

// askingCalls is how many ASKING commands node has served: a client
// sends one before each command it was redirected with ASK.
func askingCalls(t *testing.T, node *redistest.Server) int {
	t.Helper()
	info, err := node.Client().Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := askingRE.FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
