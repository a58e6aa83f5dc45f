package soak

import (
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"spamgate/internal/mtarig"
	"spamgate/internal/redistest"
)

// fault is one injected failure: it starts once progress (the share of
// messages that have ended) reaches at, and run blocks for its duration and
// undoes it.
type fault struct {
	name  string
	at    float64
	run   func()
	check func(w window) string // "" when the fault visibly hit the traffic, else why not

	start, end time.Time
	hits       map[string]int // retried attempts by cause, from start to end + grace
	note       string         // evidence beyond the retries
}

// window is what a fault's check sees.
type window struct {
	hits map[string]int
}

// grace is how long after its end a fault may still show in the retries
// (attempts in flight when it ended).
const grace = 3 * time.Second

func (w window) count(prefix string) int {
	n := 0
	for c, k := range w.hits {
		if strings.HasPrefix(c, prefix) {
			n += k
		}
	}
	return n
}

func TestSoak(t *testing.T) {
	if os.Getenv("SPAMGATE_SOAK") != "1" {
		t.Skip("soak test: run with make soak (or SPAMGATE_SOAK=1)")
	}
	count := envInt(t, "SPAMGATE_SOAK_COUNT", 100000)
	conc := envInt(t, "SPAMGATE_SOAK_CONC", 20)
	began := time.Now()
	// Postfix's queue, spamgate's log and every other file in RAM: fsync
	// on this project's virtual disks costs Postfix a fifth of its
	// throughput, and the soak is about accounting for messages, not disks.
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() && os.Getenv("TMPDIR") == "" {
		t.Setenv("TMPDIR", "/dev/shm")
	}

	bin := buildSpamgate(t)
	dns := mtarig.StartDNS(t, "../testdata/dns/integration.zone", 0)
	rs := redistest.Start(t)
	sg := startSpamgate(t, bin, dns.Addr, rs.Addr())
	sk := startSink(t)
	pf := startPostfix(t, sg.Addr, sk.Addr)
	t.Logf("rig ready in %v: Postfix %s, spamgate %s, redis %s, DNS %s, sink %s",
		time.Since(began).Round(time.Millisecond), pf.SMTPAddr, sg.Addr, rs.Addr(), dns.Addr, sk.Addr)

	l := newLoad(pf.SMTPAddr, count)

	// Fault durations are for 100,000 messages (about eight minutes); a
	// shorter run gets shorter faults, two seconds at least.
	scale := func(d time.Duration) time.Duration {
		return max(time.Duration(float64(d)*min(1, float64(count)/100000)), 2*time.Second)
	}
	storeErrors := func() int { return strings.Count(sg.Log(), `msg="greylist store"`) }
	var storeErrs0 int
	var redisBack time.Time
	kill := func(down time.Duration) func() {
		return func() {
			sg.Kill(t)
			time.Sleep(down)
			sg.Start(t)
		}
	}
	milterHit := func(w window) string {
		if n := w.count("milter unavailable") + w.count("connection broken"); n == 0 {
			return "no attempt was tempfailed by Postfix or cut"
		}
		return ""
	}
	dnsHit := func(w window) string {
		if w.count("sender domain: DNS trouble") == 0 {
			return "no 451 4.4.3 while DNS was broken"
		}
		return ""
	}
	// until waits, after a fault's set time, until it has shown in the
	// retries (spamgate tries each query twice, so a dropped query rarely
	// fails a lookup), at most limit, or until every message has ended; it
	// returns how long it waited.
	until := func(prefix string, before int, limit time.Duration) time.Duration {
		begin := time.Now()
		for l.retried(prefix) == before && time.Since(begin) < limit {
			select {
			case <-l.done:
				return time.Since(begin)
			case <-time.After(50 * time.Millisecond):
			}
		}
		return time.Since(begin)
	}
	const dnsCause = "sender domain: DNS trouble"
	dnsFault := func(f *fault, on, off func()) func() {
		return func() {
			q0, r0 := dns.Queries(), l.retried(dnsCause)
			on()
			time.Sleep(scale(10 * time.Second))
			extra := until(dnsCause, r0, 30*time.Second)
			off()
			f.note = fmt.Sprintf("%d DNS queries meanwhile", dns.Queries()-q0)
			if extra > 100*time.Millisecond {
				f.note += fmt.Sprintf("; kept on %v longer until a lookup failed", extra.Round(100*time.Millisecond))
			}
		}
	}
	drop := &fault{name: fmt.Sprintf("DNS drops 20%% of queries for %v", scale(10*time.Second)), at: 0.10, check: dnsHit}
	drop.run = dnsFault(drop, func() { dns.SetDropRate(0.2) }, func() { dns.SetDropRate(0) })
	slow := &fault{name: fmt.Sprintf("DNS answers after 1s (spamgate gives up after 2 × %v) for %v", dnsTimeout, scale(10*time.Second)),
		at: 0.25, check: dnsHit}
	slow.run = dnsFault(slow, func() { dns.SetDelay(time.Second) }, func() { dns.SetDelay(0) })
	redis := &fault{name: fmt.Sprintf("redis-server killed, restarted empty %v later", scale(5*time.Second)), at: 0.40}
	redis.run = func() {
		storeErrs0 = storeErrors()
		rs.Kill()
		time.Sleep(scale(5 * time.Second))
		rs.Restart()
		redisBack = time.Now()
	}
	redis.check = func(w window) string {
		n := storeErrors() - storeErrs0
		redis.note = fmt.Sprintf(`spamgate logged %d "greylist store" errors (on_store_error = accept)`, n)
		var why []string
		if n == 0 {
			why = append(why, `spamgate logged no "greylist store" error`)
		}
		// The triplets went with the data: greylisted anew once spamgate's
		// circuit breaker lets it ask the store again (after 30 s, or at
		// once in a restarted spamgate).
		var first time.Time
		for _, e := range l.events {
			if strings.HasPrefix(e.cause, "greylisted") && e.at.After(redisBack) {
				first = e.at
				break
			}
		}
		if first.IsZero() {
			why = append(why, "no triplet was greylisted anew after the restart")
		} else {
			redis.note += fmt.Sprintf("; triplets greylisted anew %v after the restart", first.Sub(redisBack).Round(100*time.Millisecond))
		}
		return strings.Join(why, "; ")
	}
	faults := []*fault{
		drop, slow, redis,
		{name: "spamgate SIGKILLed, restarted after 1s", at: 0.55, run: kill(time.Second), check: milterHit},
		{name: "spamgate SIGKILLed, restarted at once", at: 0.70, run: kill(0), check: milterHit},
		{name: "spamgate SIGKILLed, restarted after 1s", at: 0.85, run: kill(time.Second), check: milterHit},
	}

	// ---- send ----
	cpu0 := selfCPU()
	start := time.Now()
	workers := l.run(conc)
	ab := startAborter(pf.SMTPAddr, 200*time.Millisecond)
	limit := 14 * time.Minute
	if count < 100000 {
		limit = 2*time.Minute + time.Duration(count)*8*time.Millisecond
	}
	progress := time.NewTicker(30 * time.Second)
	defer progress.Stop()
	next := 0
	for waiting := true; waiting; {
		select {
		case <-l.done: // no traffic left for another fault
			waiting = false
			continue
		default:
		}
		if next < len(faults) && float64(l.ended.Load()) >= faults[next].at*float64(count) {
			f := faults[next]
			next++
			f.start = time.Now()
			t.Logf("%v: fault: %s (%d of %d messages ended)", f.start.Sub(start).Round(time.Millisecond), f.name, l.ended.Load(), count)
			f.run()
			f.end = time.Now()
			continue
		}
		select {
		case <-l.done:
			waiting = false
		case <-progress.C:
			t.Logf("%v: %d of %d messages ended, sink has %d", time.Since(start).Round(time.Second), l.ended.Load(), count, sk.total.Load())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(start) > limit {
			t.Fatalf("after %v only %d of %d messages have ended", limit, l.ended.Load(), count)
		}
	}
	workers.Wait()
	ab.Stop()
	sent := time.Since(start)
	if next < len(faults) {
		t.Errorf("the run ended before %d of the %d faults", len(faults)-next, len(faults))
	}

	// ---- wait until Postfix has delivered everything ----
	// Postfix may be far behind (its delivery side shares the CPUs with
	// smtpd and cleanup while the load runs): wait as long as the sink keeps
	// receiving. Nothing for a minute is a stall: mail lost or stuck.
	var lost []string
	const stall = time.Minute
	lastCount, lastMove := sk.total.Load(), time.Now()
	for {
		lost = lost[:0]
		for _, m := range l.msgs {
			if m.outcome == accepted && sk.Deliveries(m.id) == 0 {
				lost = append(lost, m.id)
			}
		}
		queued := -1
		if len(lost) == 0 {
			var err error
			if queued, err = queueFiles(pf); err != nil {
				t.Fatal(err)
			}
			if queued == 0 {
				break
			}
		}
		if n := sk.total.Load(); n != lastCount {
			lastCount, lastMove = n, time.Now()
		}
		if time.Since(lastMove) > stall || time.Since(began) > 18*time.Minute {
			t.Errorf("%v after the last message (nothing received for %v): %d accepted messages not at the sink, %d files in Postfix's queue (-1: not counted)",
				time.Since(start.Add(sent)).Round(time.Second), time.Since(lastMove).Round(time.Second), len(lost), queued)
			break
		}
		select {
		case <-progress.C:
			t.Logf("%v: all messages ended; the sink has %d of %d accepted", time.Since(start).Round(time.Second), sk.total.Load(), l.counts[accepted])
		case <-time.After(time.Second):
		}
	}
	delivered := time.Since(start)
	sgCPU, _ := sg.CPU()
	pfCPU, ownCPU := mtarig.PostfixCPU(pf), selfCPU()-cpu0

	// ---- account for every message ----
	got, noID := sk.Snapshot()
	var (
		nAccepted, nDelivered, nRefused, nUnresolved, attempts, maxTries int
		dups, dupsExplained, strays                                      int
	)
	for _, m := range l.msgs {
		attempts += m.attempts
		maxTries = max(maxTries, m.attempts)
		n := got[m.id]
		delete(got, m.id)
		switch m.outcome {
		case accepted:
			nAccepted++
			if n > 0 {
				nDelivered++
			}
		case refused:
			nRefused++
		default:
			nUnresolved++
		}
		if m.outcome != accepted && n > 0 {
			strays++
			if !m.ambiguous {
				t.Errorf("%s reached the sink %d times but was never accepted (outcome %d, last %s)", m.id, n, m.outcome, m.last)
			}
		}
		if n > 1 {
			dups += n - 1
			if m.ambiguous {
				dupsExplained += n - 1
			} else {
				t.Errorf("%s reached the sink %d times; no attempt lost its final reply", m.id, n)
			}
		}
	}
	abortsDelivered := 0
	for id, n := range got { // what is left: not a soak message
		if strings.HasPrefix(id, "abort-") {
			abortsDelivered += n
		}
		t.Errorf("the sink received %s (%d times): a message abandoned in the middle of DATA", id, n)
	}
	if noID > 0 {
		t.Errorf("the sink received %d messages without a soak id", noID)
	}
	for _, e := range l.errs {
		t.Error(e)
	}
	if len(lost) > 0 {
		t.Errorf("%d accepted messages lost, e.g. %v", len(lost), lost[:min(len(lost), 10)])
	}
	expectedRefusals := 0
	for _, m := range l.msgs {
		if m.expect != "" {
			expectedRefusals++
		}
	}

	// ---- faults: each must have hit the traffic ----
	causes := map[string]int{}
	examples := map[string]string{}
	for _, e := range l.events {
		causes[e.cause]++
		if _, ok := examples[e.cause]; !ok {
			examples[e.cause] = e.eg
		}
		for _, f := range faults {
			if !f.start.IsZero() && !e.at.Before(f.start) && e.at.Before(f.end.Add(grace)) {
				if f.hits == nil {
					f.hits = map[string]int{}
				}
				f.hits[e.cause]++
			}
		}
	}
	for _, f := range faults {
		if f.start.IsZero() {
			continue
		}
		if why := f.check(window{hits: f.hits}); why != "" {
			t.Errorf("fault %q did not hit the traffic: %s", f.name, why)
		}
	}
	pfLog := pf.Log()
	lostAfterData := strings.Count(pfLog, "lost connection after DATA")
	if ab.aborted.Load() == 0 {
		t.Errorf("the aborting client never got to DATA (%d sessions tried)", ab.tried.Load())
	}
	milterRefused := strings.Count(pfLog, "warning: connect to Milter service")
	milterLost := strings.Count(pfLog, "warning: milter inet:")

	// ---- the table ----
	var out strings.Builder
	fmt.Fprintf(&out, "\n### Soak: %d messages, %d client workers, through Postfix + spamgate with faults\n\n", count, conc)
	fmt.Fprintf(&out, "| | count |\n| --- | --- |\n")
	row := func(k string, v any) { fmt.Fprintf(&out, "| %s | %v |\n", k, v) }
	row("messages sent (distinct ids)", count)
	row("SMTP attempts", fmt.Sprintf("%d (at most %d for one message)", attempts, maxTries))
	row("accepted (250 after the final dot)", nAccepted)
	row("delivered to the sink", nDelivered)
	row("refused (5xx), all designed to be", fmt.Sprintf("%d of %d designed (550 5.1.8 no such domain, 550 5.7.27 null MX)", nRefused, expectedRefusals))
	row("deferred-unresolved (failure)", nUnresolved)
	row("lost (accepted, never delivered)", len(lost))
	row("duplicates at the sink", fmt.Sprintf("%d (%d explained by a lost final reply)", dups, dupsExplained))
	row("delivered but never accepted", strays)
	row("sessions abandoned mid-DATA", fmt.Sprintf("%d (of %d tried; Postfix logged %d \"lost connection after DATA\"; %d reached the sink)", ab.aborted.Load(), ab.tried.Load(), lostAfterData, abortsDelivered))
	row("spamgate incarnations", fmt.Sprintf("%d (%d SIGKILLs)", sg.Starts(), sg.Starts()-1))
	row("spamgate: greylist store errors logged", storeErrors())
	row("spamgate: messages logged", strings.Count(sg.Log(), `msg=message `))
	row("Postfix: milter connections refused / lost mid-session", fmt.Sprintf("%d / %d", milterRefused, milterLost))
	row("DNS queries", dns.Queries())
	perK := func(d time.Duration) string {
		return fmt.Sprintf("%.0f s (%.2f s per 1000 messages)", d.Seconds(), d.Seconds()*1000/float64(count))
	}
	row("CPU: Postfix (every daemon)", perK(pfCPU))
	row("CPU: spamgate (every incarnation)", perK(sgCPU))
	row("CPU: test process (client, sink, DNS server)", perK(ownCPU))
	row("all ended (last client reply)", fmt.Sprintf("%v, %.0f msg/s", sent.Round(time.Second), float64(count)/sent.Seconds()))
	row("all delivered", fmt.Sprintf("%v, %.0f msg/s", delivered.Round(time.Second), float64(nDelivered)/delivered.Seconds()))

	fmt.Fprintf(&out, "\nRetried attempts by cause (%d in all):\n\n| cause | attempts | example |\n| --- | --- | --- |\n", len(l.events))
	for _, c := range slices.Sorted(maps.Keys(causes)) {
		fmt.Fprintf(&out, "| %s | %d | `%s` |\n", c, causes[c], strings.ReplaceAll(examples[c], "|", "\\|"))
	}
	fmt.Fprintf(&out, "\nFaults (retried attempts from the start of each to %v after its end):\n\n| at | fault | lasted | retried attempts | also |\n| --- | --- | --- | --- | --- |\n", grace)
	for _, f := range faults {
		if f.start.IsZero() {
			fmt.Fprintf(&out, "| — | %s | not reached | | |\n", f.name)
			continue
		}
		var hits []string
		for _, c := range slices.Sorted(maps.Keys(f.hits)) {
			hits = append(hits, fmt.Sprintf("%s: %d", c, f.hits[c]))
		}
		fmt.Fprintf(&out, "| %v | %s | %v | %s | %s |\n", f.start.Sub(start).Round(time.Second), f.name,
			f.end.Sub(f.start).Round(100*time.Millisecond), strings.Join(hits, "; "), f.note)
	}
	fmt.Fprintf(&out, "\nWhole test: %v (%d CPUs).\n", time.Since(began).Round(time.Second), runtime.NumCPU())
	fmt.Print(out.String())
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}
