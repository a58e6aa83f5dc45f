package greylist

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"spamgate/internal/redistest"
)

// replicationWindows are the "last N before the kill" the benchmark
// reports losses for, and "all" (0).
var replicationWindows = []time.Duration{time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond, 0}

// ackedWrite is a new triplet the master acknowledged, and when.
type ackedWrite struct {
	key string // the triplet's Redis key
	at  time.Time
}

// BenchmarkSentinelReplicationLoss measures what asynchronous replication
// loses in a Sentinel failover, instead of avoiding it with WAIT as the
// failover tests do: eight writers greylist new triplets through the
// store (Sentinel client) as fast as the master answers; the master is
// killed (SIGKILL) mid-load; once the sentinels promoted the replica, the
// benchmark counts which acknowledged triplets the new master lacks, by
// how long before the kill they were acknowledged.
//
// "process" kills the master process only, on loopback: the kernel still
// delivers what the master had written to the replica's socket. The
// "link" cases put a proxy of that one-way latency between master and
// replica and cut it with the kill: a host crash (power, kernel panic)
// with the replica that far away.
//
// One round is one Sentinel rig and one failover (about 5 s): run several
// (-benchtime 5x) for the range. It is a benchmark, not a test, for those
// seconds. Figures in docs/FAILOVER.md.
func BenchmarkSentinelReplicationLoss(b *testing.B) {
	for _, tc := range []struct {
		name  string
		delay time.Duration
	}{
		{"process", 0},
		{"link=1ms", time.Millisecond},
		{"link=10ms", 10 * time.Millisecond},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var maxLost, sumLost, sumAcked float64
			for round := range b.N {
				acked, lost := replicationLossRound(b, round, tc.delay)
				maxLost = max(maxLost, float64(lost[len(lost)-1]))
				sumLost += float64(lost[len(lost)-1])
				sumAcked += float64(acked)
			}
			b.ReportMetric(sumAcked/float64(b.N), "acked/round")
			b.ReportMetric(sumLost/float64(b.N), "lost/round")
			b.ReportMetric(maxLost, "max-lost")
			b.ReportMetric(0, "ns/op") // a round's time is the rig's, not spamgate's
		})
	}
}

// replicationLossRound is one failover; lost[i] is how many writes
// acknowledged in the last replicationWindows[i] before the kill the
// promoted replica lacks.
func replicationLossRound(b *testing.B, round int, delay time.Duration) (acked int, lost []int) {
	o := redistest.SentinelOptions{DownAfter: time.Second, FailoverTimeout: 3 * time.Second, ReplicationDelay: delay}
	if delay > 0 {
		// The sentinels would re-point the replica at the master itself
		// after failover-timeout; a round takes about 5 s.
		o.FailoverTimeout = 15 * time.Second
	}
	sen := redistest.StartSentinels(b, o)
	s := newRedis(b, RedisOptions{Addresses: sen.Addrs(), MasterName: sen.Name, KeyPrefix: fmt.Sprintf("gl:repl%d:", round), Timeout: 200 * time.Millisecond})
	switches := sen.WatchSwitch()

	var (
		mu     sync.Mutex
		writes []ackedWrite
		stop   atomic.Bool
		wg     sync.WaitGroup
	)
	params := Params{}.WithDefaults()
	for w := range 8 {
		wg.Go(func() {
			// Bounded: the master is killed after 300 ms; 20,000 is far
			// more than a writer does in that time.
			for i := 0; i < 20000 && !stop.Load(); i++ {
				k := MakeKey(Request{Client: netip.MustParseAddr("192.0.2.55"), Sender: "s@sender.example",
					Rcpt: fmt.Sprintf("w%d-%d@rcpt.example", w, i)}, params)
				d, err := s.Check(context.Background(), k, params)
				if err != nil || d.Reason != ReasonNew {
					continue
				}
				tk, _ := s.keys(k)
				mu.Lock()
				writes = append(writes, ackedWrite{key: tk, at: time.Now()})
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	killed := time.Now()
	if sen.Link != nil {
		sen.Link.Cut()
	}
	sen.Master.Kill()
	stop.Store(true)
	wg.Wait()

	select {
	case sw := <-switches:
		if sw.To != sen.Replica.Addr() {
			b.Fatalf("promoted %s, want the replica %s", sw.To, sen.Replica.Addr())
		}
	case <-time.After(20 * time.Second):
		b.Fatal("no +switch-master within 20 s of the kill")
	}
	missing := missingOn(b, sen.Replica.Client(), writes)
	lost = make([]int, len(replicationWindows))
	inWindow := make([]int, len(replicationWindows))
	for i, w := range writes {
		for j, win := range replicationWindows {
			if win == 0 || killed.Sub(w.at) <= win {
				inWindow[j]++
				if missing[i] {
					lost[j]++
				}
			}
		}
	}
	b.Logf("REPLICATION LOSS %s round %d: %d writes acknowledged (%.0f/s); lost on the promoted replica: %s",
		b.Name(), round, len(writes), float64(len(writes))/killed.Sub(firstAck(writes)).Seconds(), lossTable(inWindow, lost))
	return len(writes), lost
}

// missingOn asks c, in pipelines of 1000, which of the writes' keys it
// lacks.
func missingOn(b *testing.B, c *redis.Client, writes []ackedWrite) []bool {
	out := make([]bool, len(writes))
	ctx := context.Background()
	for from := 0; from < len(writes); from += 1000 {
		to := min(from+1000, len(writes))
		pipe := c.Pipeline()
		cmds := make([]*redis.IntCmd, 0, to-from)
		for _, w := range writes[from:to] {
			cmds = append(cmds, pipe.Exists(ctx, w.key))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatalf("EXISTS on the promoted replica: %v", err)
		}
		for i, cmd := range cmds {
			out[from+i] = cmd.Val() == 0
		}
	}
	return out
}

// firstAck is the earliest acknowledgement, for the write rate.
func firstAck(ws []ackedWrite) time.Time {
	if len(ws) == 0 {
		return time.Now()
	}
	ts := make([]time.Time, len(ws))
	for i, w := range ws {
		ts[i] = w.at
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	return ts[0]
}

// lossTable is "last 1ms: 0 of 12, …, all: 0 of 9000".
func lossTable(inWindow, lost []int) string {
	out := ""
	for j, win := range replicationWindows {
		name := "all"
		if win != 0 {
			name = "last " + win.String()
		}
		if j > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s: %d of %d", name, lost[j], inWindow[j])
	}
	return out
}
