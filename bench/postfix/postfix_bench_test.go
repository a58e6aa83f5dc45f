package postfix

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"spamgate/internal/mtarig"
	"spamgate/internal/postfixtest"
)

// coldDelay is how long the cold-DNS probe's server takes to answer.
const coldDelay = 50 * time.Millisecond

// firstLookup is a DNS question spamgate asks in the first wave of lookups of
// every message (at MAIL FROM, with SPF and the DNSBL lookups); it marks where
// the last message's lookups begin in the cold probe's timeline.
const firstLookup = "loop.test. MX"

// BenchmarkPostfix runs, in one process and one run so that the ratios are fair:
//
//   - at each concurrency, alternating rounds (SPAMGATE_BENCH_ROUNDS, default
//     3) of Postfix alone, Postfix + the floor (a milter that does nothing
//     but negotiate as spamgate does: floor_test.go) and Postfix + spamgate
//     (every check on, warm DNS cache), the two milters over TCP and over a
//     unix socket, then Postfix + rspamd (the peer, rspamd_test.go) once:
//     smtp-source → smtpd → smtp-sink. The machine drifts within minutes, so
//     the ratios are taken within a round and their median is reported;
//   - the cold-DNS probe at concurrency 1: a DNS server answering after 50 ms,
//     spamgate with its cache on (warm) and off (cache_size = -1: every lookup
//     of every message waits for the server), to show how many round trips a
//     message waits for when the lookups run in parallel.
//
// It prints Markdown tables at the end (see doc.go for the knobs).
func BenchmarkPostfix(b *testing.B) {
	began := time.Now()
	concs := envInts(b, "SPAMGATE_BENCH_CONC", []int{1, 10, 50})
	count := envInts(b, "SPAMGATE_BENCH_COUNT", []int{5000})[0]
	rounds := envInts(b, "SPAMGATE_BENCH_ROUNDS", []int{3})[0]
	coldCount := envInts(b, "SPAMGATE_BENCH_COLD_COUNT", []int{100})[0]
	// rspamd runs at a fifth of Postfix's pace but once per concurrency, not
	// once per round.
	peerCount := envInts(b, "SPAMGATE_BENCH_PEER_COUNT", []int{count})[0]

	bin := buildSpamgate(b)
	mail := newBenchMail(b)
	dns := mtarig.StartDNS(b, mail.zoneFile, 0)
	sk := startSink(b)
	sg := startSpamgate(b, bin, dns.Addr, 0)
	sgUnix := startSpamgate(b, bin, dns.Addr, 0, "unix:"+postfixtest.SocketDir(b)+"/spamgate.sock")
	fl, flUnix := startFloor(b, false), startFloor(b, true)
	rs := startRspamd(b, dns.Addr)
	m := mail.msgFile
	alternating := []target{
		{key: "alone", name: "Postfix alone", postfix: startPostfix(b, sk, ""), mail: m},
		{key: "floor", name: "Postfix + floor, TCP", transport: "TCP", postfix: startPostfix(b, sk, fl.Milter), sg: fl, mail: m},
		{key: "spamgate", name: "Postfix + spamgate, TCP", transport: "TCP", postfix: startPostfix(b, sk, sg.Milter), sg: sg, dns: dns, mail: m},
		{key: "floor-unix", name: "Postfix + floor, unix", transport: "unix", postfix: startPostfix(b, sk, flUnix.Milter), sg: flUnix, mail: m},
		{key: "spamgate-unix", name: "Postfix + spamgate, unix", transport: "unix", postfix: startPostfix(b, sk, sgUnix.Milter), sg: sgUnix, dns: dns, mail: m},
	}
	peer := target{key: "rspamd", name: "Postfix + rspamd, TCP", postfix: startPostfix(b, sk, rs.Milter), sg: rs, dns: dns, mail: m}

	var results []result
	run := func(t target, conc, round, n int) {
		if conc == 1 {
			n = max(n/10, 1)
		}
		b.Run(fmt.Sprintf("%s/conc=%d/round=%d", t.key, conc, round), func(b *testing.B) {
			var r result
			for range b.N {
				var err error
				if r, err = measure(t, sk, conc, n); err != nil {
					b.Fatalf("%s, concurrency %d: %v\nPostfix log (tail):\n%s", t.name, conc, err, mtarig.Tail(t.postfix.Log(), 30))
				}
			}
			r.round, r.key, r.transport = round, t.key, t.transport
			report(b, r)
			results = append(results, r)
		})
	}
	for _, conc := range concs {
		for round := 1; round <= rounds; round++ {
			for _, t := range alternating {
				run(t, conc, round, count)
			}
		}
		run(peer, conc, 1, peerCount)
	}

	// Cold DNS: its own DNS server (answers after 50 ms) and two spamgates,
	// each behind its own Postfix (smtpd_milters is fixed at start).
	var cold []result
	var coldTimeline string
	coldDNS := mtarig.StartDNS(b, mail.zoneFile, coldDelay)
	tap := startTap(b, coldDNS.Addr)
	for _, probe := range []struct {
		name      string
		cacheSize int
	}{{"warm cache", 0}, {"cold (no cache)", -1}} {
		b.Run("colddns/"+strings.Fields(probe.name)[0], func(b *testing.B) {
			psg := startSpamgate(b, bin, tap.Addr, probe.cacheSize)
			mark := tap.Mark()
			t := target{name: probe.name, postfix: startPostfix(b, sk, psg.Milter), sg: psg, dns: coldDNS, mail: m}
			var r result
			for range b.N {
				var err error
				if r, err = measure(t, sk, 1, coldCount); err != nil {
					b.Fatalf("cold DNS, %s: %v\nPostfix log (tail):\n%s", probe.name, err, mtarig.Tail(t.postfix.Log(), 30))
				}
			}
			report(b, r)
			cold = append(cold, r)
			if probe.cacheSize < 0 {
				coldTimeline = tap.lastMessage(mark, firstLookup)
			}
		})
	}

	// Memory: spamgate's resident set with 200 SMTP sessions at once, and
	// while one 50 MB message streams through it.
	var mems []memResult
	memTarget := alternating[2]
	for _, probe := range []memResult{
		{name: "200 concurrent sessions", conc: 200, n: 2000, bodyLen: messageLen},
		{name: "one 50 MB message", conc: 1, n: 1, bodyLen: 50 << 20},
	} {
		b.Run("memory/"+strings.ReplaceAll(probe.name, " ", "_"), func(b *testing.B) {
			for range b.N {
				var err error
				if probe, err = memProbe(memTarget, sk, probe); err != nil {
					b.Fatalf("memory, %s: %v\nPostfix log (tail):\n%s", probe.name, err, mtarig.Tail(memTarget.postfix.Log(), 30))
				}
			}
			b.ReportMetric(float64(probe.before)/(1<<20), "rss-before-MiB")
			b.ReportMetric(float64(probe.peak)/(1<<20), "peak-MiB")
			mems = append(mems, probe)
		})
	}

	var out strings.Builder
	fmt.Fprintf(&out, "\n### Postfix end to end: smtp-source → Postfix smtpd → smtp-sink, %d-byte bodies\n\n", messageLen)
	writeTable(&out, results)
	fmt.Fprintf(&out, "\n### Pair ratios within a round: median (min – max) over %d rounds\n\n", rounds)
	writeRatios(&out, results)
	scans := rs.Scans()
	if len(scans) > 0 {
		fmt.Fprintf(&out, "\nrspamd: %d proxy processes (milter, self_scan) over TCP; its verdict on the last message:\n\n    %s\n",
			rs.Workers, strings.TrimSpace(scans[len(scans)-1]))
	}
	if len(mems) > 0 {
		fmt.Fprintf(&out, "\n### spamgate memory\n\n| probe | concurrency | messages | RSS before | peak RSS | peak − before |\n| --- | --- | --- | --- | --- | --- |\n")
		for _, m := range mems {
			fmt.Fprintf(&out, "| %s | %d | %d | %.1f MiB | %.1f MiB | %.1f MiB |\n", m.name, m.conc, m.n,
				float64(m.before)/(1<<20), float64(m.peak)/(1<<20), float64(m.peak-m.before)/(1<<20))
		}
	}
	if len(cold) == 2 {
		fmt.Fprintf(&out, "\n### Cold DNS: every answer after %v, concurrency 1\n\n", coldDelay)
		writeColdTable(&out, cold)
		fmt.Fprintf(&out, "\nThe lookups of the last cold message, as the DNS server saw them:\n\n%s", coldTimeline)
	}
	fmt.Fprintf(&out, "\nWhole run: %v (spamgate %s, GOMAXPROCS default, %d CPUs).\n",
		time.Since(began).Round(time.Second), bin, runtime.NumCPU())
	fmt.Print(out.String())
}

// memResult is one memory probe: n messages of bodyLen bytes at
// concurrency conc, and spamgate's resident set before and at the peak.
type memResult struct {
	name         string
	conc, n      int
	bodyLen      int
	before, peak int64
}

// memProbe warms Postfix and spamgate up at the probe's concurrency with
// ordinary messages, then sends the probe's messages and reads spamgate's
// peak resident set (reset just before).
func memProbe(t target, s *sink, m memResult) (memResult, error) {
	sg := t.sg.(*benchSpamgate)
	if err := send(t, s, m.conc, 2*m.conc); err != nil {
		return m, fmt.Errorf("warm-up: %w", err)
	}
	if err := sg.ResetPeakRSS(); err != nil {
		return m, err
	}
	var err error
	if m.before, err = sg.RSS(); err != nil {
		return m, err
	}
	base := s.Count()
	file := t.mail
	if m.bodyLen != messageLen {
		file = "" // smtp-source's own message of bodyLen bytes
	}
	if err := runSource(context.Background(), t.postfix.SMTPAddr, m.conc, m.n, file, m.bodyLen); err != nil {
		return m, err
	}
	if err := s.waitCount(base+int64(m.n), deliveryTimeout(m.n)); err != nil {
		return m, err
	}
	m.peak, err = sg.PeakRSS()
	return m, err
}

// report gives the run's figures to the testing package (benchstat-friendly).
func report(b *testing.B, r result) {
	b.ReportMetric(r.rate(), "msg/s")
	b.ReportMetric(r.delivered.Seconds(), "s")
	b.ReportMetric(float64(r.accepted.Microseconds())/1000/float64(r.n)*float64(r.conc), "client-ms/msg")
	b.ReportMetric(r.pfCPU.Seconds()*1000/float64(r.n), "postfix-cpu-s/1000msg")
	if r.milter {
		b.ReportMetric(r.cpu.Seconds()*1000/float64(r.n), "milter-cpu-s/1000msg")
		b.ReportMetric(float64(r.peakRSS)/(1<<20), "milter-peak-MiB")
	}
	if r.pss > 0 {
		b.ReportMetric(float64(r.pss)/(1<<20), "milter-pss-MiB")
	}
	if r.queries > 0 {
		b.ReportMetric(float64(r.queries)/float64(r.n), "dns-queries/msg")
	}
}

// roundKey names one round at one concurrency.
type roundKey struct{ conc, round int }

// writeTable prints the throughput table; each milter row (floor, spamgate,
// rspamd) is compared with the Postfix-alone row of the same concurrency and
// round (rspamd, run once per concurrency, with that of round 1).
func writeTable(w *strings.Builder, rs []result) {
	fmt.Fprintln(w, "| scenario | conc | round | messages | seconds | msg/s | ratio to Postfix alone | milter CPU s / 1000 msg | Postfix CPU s / 1000 msg | milter peak RSS | client ms per message |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	alone := map[roundKey]result{}
	for _, r := range rs {
		if !r.milter {
			alone[roundKey{r.conc, r.round}] = r
		}
	}
	for _, r := range rs {
		ratio, cpu, rss := "1", "—", "—"
		if r.milter {
			ratio = "—"
			if a, ok := alone[roundKey{r.conc, r.round}]; ok {
				ratio = fmt.Sprintf("%.2f", r.rate()/a.rate())
			}
			cpu = fmt.Sprintf("%.2f", r.cpu.Seconds()*1000/float64(r.n))
			rss = fmt.Sprintf("%.1f MiB", float64(r.peakRSS)/(1<<20))
			if r.pss > 0 {
				rss += fmt.Sprintf(" (PSS %.0f MiB)", float64(r.pss)/(1<<20))
			}
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %.1f | %.0f | %s | %s | %.2f | %s | %.1f |\n",
			r.scenario, r.conc, r.round, r.n, r.delivered.Seconds(), r.rate(), ratio, cpu, r.pfCPU.Seconds()*1000/float64(r.n), rss, clientMs(r))
	}
	fmt.Fprintln(w, "\nseconds: from the start of smtp-source until smtp-sink has every message;"+
		" client ms per message: smtp-source's own duration × concurrency / messages"+
		" (the SMTP session as the client sees it, queueing included);"+
		" Postfix CPU: its master and every daemon it ran (smtpd, cleanup, qmgr, smtp, …);"+
		" milter CPU and peak RSS: spamgate's process, or the sum over rspamd's processes"+
		" (main, proxies, hyperscan helper), whose VmHWM counts the pages they share once per process"+
		" (PSS: the group's proportional set size at the end of the run).")
}

// writeRatios prints, per concurrency and transport, the median over the
// rounds of the throughput ratios taken within a round (spamgate / floor,
// spamgate / Postfix alone, floor / Postfix alone), and the medians of the
// CPU each message cost the milter and Postfix. Ratios within a round cancel
// most of the machine's drift; their spread shows what is left of it.
func writeRatios(w *strings.Builder, rs []result) {
	fmt.Fprintln(w, "| conc | milter transport | spamgate / floor | spamgate / Postfix alone | floor / Postfix alone |"+
		" floor CPU ms/msg | spamgate CPU ms/msg | Postfix CPU ms/msg: alone / floor / spamgate |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	byKey := map[string]map[roundKey]result{}
	var concs []int
	for _, r := range rs {
		if byKey[r.key] == nil {
			byKey[r.key] = map[roundKey]result{}
		}
		byKey[r.key][roundKey{r.conc, r.round}] = r
		if !slices.Contains(concs, r.conc) {
			concs = append(concs, r.conc)
		}
	}
	for _, conc := range concs {
		for _, tr := range []struct{ name, floor, spamgate string }{{"TCP", "floor", "spamgate"}, {"unix", "floor-unix", "spamgate-unix"}} {
			var sgFloor, sgAlone, floorAlone, floorCPU, sgCPU, pfAlone, pfFloor, pfSg []float64
			for k, a := range byKey["alone"] {
				f, okF := byKey[tr.floor][k]
				g, okG := byKey[tr.spamgate][k]
				if k.conc != conc || !okF || !okG {
					continue
				}
				sgFloor = append(sgFloor, g.rate()/f.rate())
				sgAlone = append(sgAlone, g.rate()/a.rate())
				floorAlone = append(floorAlone, f.rate()/a.rate())
				floorCPU = append(floorCPU, msPerMsg(f.cpu, f.n))
				sgCPU = append(sgCPU, msPerMsg(g.cpu, g.n))
				pfAlone = append(pfAlone, msPerMsg(a.pfCPU, a.n))
				pfFloor = append(pfFloor, msPerMsg(f.pfCPU, f.n))
				pfSg = append(pfSg, msPerMsg(g.pfCPU, g.n))
			}
			if len(sgFloor) == 0 {
				continue
			}
			fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %.2f | %.2f | %.2f / %.2f / %.2f |\n", conc, tr.name,
				spread(sgFloor), spread(sgAlone), spread(floorAlone), median(floorCPU), median(sgCPU),
				median(pfAlone), median(pfFloor), median(pfSg))
		}
	}
	fmt.Fprintln(w, "\nA ratio is msg/s of one scenario over msg/s of the other in the same round;"+
		" CPU figures are medians over the rounds (milter: its process; Postfix: as in the table above)."+
		" The floor is floor_test.go: go-milter's server negotiating what spamgate negotiates"+
		" (the same macros, no reply before RCPT, one header field added at end of message) and doing nothing else.")
}

func msPerMsg(d time.Duration, n int) float64 { return d.Seconds() * 1000 / float64(n) }

// median of xs (not empty); it sorts xs.
func median(xs []float64) float64 {
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

// spread is "median (min – max)" of xs, or the one value.
func spread(xs []float64) string {
	m := median(xs)
	if len(xs) == 1 {
		return fmt.Sprintf("%.2f", m)
	}
	return fmt.Sprintf("%.2f (%.2f – %.2f)", m, xs[0], xs[len(xs)-1])
}

// writeColdTable prints the cold-DNS probe: the latency a message gains when
// every lookup goes to a server 50 ms away, in round trips of 50 ms.
func writeColdTable(w *strings.Builder, rs []result) {
	warm, cold := rs[0], rs[1]
	fmt.Fprintln(w, "| spamgate DNS cache | messages | client ms per message | added vs warm | in 50 ms round trips | DNS queries per message | their sum if serial |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rs {
		added, trips := "—", "—"
		if r.scenario == cold.scenario {
			d := clientMs(cold) - clientMs(warm)
			added = fmt.Sprintf("%.0f ms", d)
			trips = fmt.Sprintf("%.1f", d/float64(coldDelay.Milliseconds()))
		}
		q := float64(r.queries) / float64(r.n)
		fmt.Fprintf(w, "| %s | %d | %.1f | %s | %s | %.1f | %.0f ms |\n",
			r.scenario, r.n, clientMs(r), added, trips, q, q*float64(coldDelay.Milliseconds()))
	}
}

func clientMs(r result) float64 {
	return float64(r.accepted.Microseconds()) / 1000 * float64(r.conc) / float64(r.n)
}

// envInts reads a comma-separated list of positive integers from the environment.
func envInts(b *testing.B, name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want positive integers separated by commas", name, v)
		}
		out = append(out, n)
	}
	return out
}
