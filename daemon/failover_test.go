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
	"spamgate/internal/miltertest"
	"spamgate/internal/redistest"
)

// failoverTx is one transaction of the failover loop.
type failoverTx struct {
	start, end time.Time
	reply      string // to the RCPT: greylisted (Redis used) or "" (fell back)
}

// failoverRun is what one daemon answered during the loop.
type failoverRun struct {
	name string
	txs  []failoverTx
}

// firstUseAfter is the end of the first transaction started after t that
// Redis answered (greylisted): the instance uses Redis again.
func (r *failoverRun) firstUseAfter(t time.Time) (time.Time, bool) {
	for _, tx := range r.txs {
		if tx.start.After(t) && tx.reply == replyGreylisted {
			return tx.end, true
		}
	}
	return time.Time{}, false
}

// between counts the transactions started in [from, to) and those of
// them that fell back (accepted without Redis).
func (r *failoverRun) between(from, to time.Time) (n, fellBack int) {
	for _, tx := range r.txs {
		if !tx.start.Before(from) && tx.start.Before(to) {
			n++
			if tx.reply == "" {
				fellBack++
			}
		}
	}
	return n, fellBack
}

// loopTx runs transactions with a fresh recipient each through r until
// stop says so, at most max of them, and records each reply.
// checkServed fails the test for a transaction refused (Redis being away
// must never refuse mail) or slower than 3 s (Postfix's
// milter_command_timeout is 30 s; the store timeout, 200 ms, is what bounds
// one), and returns the slowest.
func (r *failoverRun) checkServed(t *testing.T, during string) time.Duration {
	t.Helper()
	var slowest time.Duration
	for i, tx := range r.txs {
		slowest = max(slowest, tx.end.Sub(tx.start))
		if tx.reply != replyGreylisted && tx.reply != "" {
			t.Errorf("%s transaction %d refused with %q %s", r.name, i, tx.reply, during)
		}
	}
	if slowest > 3*time.Second {
		t.Errorf("%s: slowest transaction took %v", r.name, slowest)
	}
	return slowest
}

// usedSince counts the transactions started after t that Redis answered
// (greylisted).
func (r *failoverRun) usedSince(t time.Time) int {
	used := 0
	for _, tx := range r.txs {
		if tx.start.After(t) && tx.reply == replyGreylisted {
			used++
		}
	}
	return used
}

// loopBoth runs loopTx through two daemons at once, named prefix1 and
// prefix2.
func loopBoth(t *testing.T, a, b *rig, prefix string, max int, stop func(*failoverRun) bool) []*failoverRun {
	runs := make([]*failoverRun, 2)
	var wg sync.WaitGroup
	for i, r := range []*rig{a, b} {
		wg.Go(func() { runs[i] = loopTx(t, r, fmt.Sprintf("%s%d", prefix, i+1), max, stop) })
	}
	wg.Wait()
	return runs
}

func loopTx(t *testing.T, r *rig, name string, max int, stop func(*failoverRun) bool) *failoverRun {
	run := &failoverRun{name: name}
	for i := range max {
		rcpt := fmt.Sprintf("%s-%d@example.net", name, i)
		tx := suspiciousTx(rcpt)
		tx.Helo, tx.Headers, tx.QueueID = "helo.good.test", [][2]string{{"From", " <user@good.test>"}}, "4FAIL"
		start := time.Now()
		res, err := miltertest.Run(r.addr, tx)
		if err != nil {
			t.Errorf("%s transaction %d: %v", name, i, err)
			return run
		}
		run.txs = append(run.txs, failoverTx{start: start, end: time.Now(), reply: res.Refused(rcpt)})
		if stop(run) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return run
}

// sentinelGreylist is the [greylist] table of a daemon on the sentinels.
func sentinelGreylist(sen *redistest.Sentinels, more string) string {
	return fmt.Sprintf("[greylist]\nmode = \"suspicious\"\ndelay = \"1s\"\nstore = \"redis\"\ntimeout = \"200ms\"\n"+
		"[greylist.redis]\naddresses = [\"%s\"]\nmaster_name = %q\n%s",
		strings.Join(sen.Addrs(), `", "`), sen.Name, more)
}

// Two MX hosts share a Sentinel-managed Redis (one master, one replica,
// three sentinels); the master is killed while transactions go through
// both. Every transaction is answered promptly, none is refused because
// Redis was away (on_store_error = "accept", the default), both daemons
// use the promoted replica within a few seconds of the promotion, and
// the greylist state written before the failover (and replicated) is
// still there. The figures go to the test log (docs/FAILOVER.md).
func TestGreylistSentinelFailover(t *testing.T) {
	// Not parallel: the bound on the time to recovery must not measure
	// other tests' CPU use on a 2-core machine.
	sen := redistest.StartSentinels(t, redistest.SentinelOptions{DownAfter: time.Second, FailoverTimeout: 3 * time.Second})
	a := startRigOpts(t, rigOptions{greylist: sentinelGreylist(sen, ""), log: &logBuffer{}})
	b := startRigOpts(t, rigOptions{greylist: sentinelGreylist(sen, ""), log: &logBuffer{}})

	// State written before the failover, replicated before the kill
	// (WAIT 1): asynchronous replication could otherwise lose the last
	// writes, which is measured separately.
	const before = "before@example.net"
	wantReply(t, a.run(t, suspiciousTx(before)), before, replyGreylisted, "before the failover")
	ctx := context.Background()
	if n, err := sen.Master.Client().Do(ctx, "WAIT", 1, 2000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1: %d replicas, %v", n, err)
	}

	switches := sen.WatchSwitch()
	killed := time.Now()
	sen.Master.Kill()

	// Each daemon runs its loop until it used Redis 5 times after the
	// promotion, bounded in count and time.
	var (
		mu       sync.Mutex
		promoted time.Time
	)
	go func() {
		select {
		case sw := <-switches:
			mu.Lock()
			promoted = sw.At
			mu.Unlock()
		case <-time.After(20 * time.Second):
		}
	}()
	deadline := killed.Add(25 * time.Second)
	stop := func(r *failoverRun) bool {
		mu.Lock()
		p := promoted
		mu.Unlock()
		if time.Now().After(deadline) {
			return true
		}
		return !p.IsZero() && r.usedSince(p) >= 5
	}
	runs := loopBoth(t, a, b, "mx", 2000, stop)

	mu.Lock()
	p := promoted
	mu.Unlock()
	if p.IsZero() {
		t.Fatalf("no +switch-master within 20s of killing the master")
	}
	addr, err := sen.MasterAddr(ctx)
	if err != nil || addr != sen.Replica.Addr() {
		t.Fatalf("master after the failover: %q, %v; want the replica %s", addr, err, sen.Replica.Addr())
	}
	t.Logf("FAILOVER: master killed, promotion (+switch-master) after %v", p.Sub(killed).Round(time.Millisecond))

	for _, r := range runs {
		slowest := r.checkServed(t, "while Redis failed over")
		used, ok := r.firstUseAfter(p)
		if !ok {
			t.Errorf("%s never used Redis again after the promotion (%d transactions)", r.name, len(r.txs))
			continue
		}
		n, fell := r.between(killed, used)
		t.Logf("FAILOVER: %s: %d transactions from the kill until Redis was used again, %d fell back (accepted without greylisting); "+
			"Redis used again %v after the promotion; slowest transaction %v; %d transactions in all",
			r.name, n, fell, used.Sub(p).Round(time.Millisecond), slowest.Round(time.Millisecond), len(r.txs))
		if d := used.Sub(p); d > 10*time.Second {
			t.Errorf("%s used Redis again only %v after the promotion", r.name, d)
		}
	}

	// The triplet greylisted before the failover is known to the new
	// master: its retry passes, through the other daemon.
	req := greylist.Request{Client: netip.MustParseAddr("192.0.2.20"), SPFDomain: "good.test", Sender: "user@good.test", Rcpt: before}
	if d, err := b.d.Engine().Greylist().Peek(ctx, req); err != nil || d.Reason == greylist.ReasonNew {
		t.Errorf("triplet written before the failover: %+v, %v; want it known", d, err)
	}
	wantAccepted(t, b.run(t, suspiciousTx(before)), before, "retry after the failover")
}
