package postfix

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"spamgate/internal/mtarig"
)

// coldDelay is how long the cold-DNS probe's server takes to answer.
const coldDelay = 50 * time.Millisecond

// firstLookup is a DNS question spamgate asks in the first wave of lookups of
// every message (at MAIL FROM, with SPF and the DNSBL lookups); it marks where
// the last message's lookups begin in the cold probe's timeline.
const firstLookup = "loop.test. MX"

// BenchmarkPostfix runs, in one process and one run so that the ratios are fair:
//
//   - Postfix alone, Postfix + spamgate (every check on, warm DNS cache) and
//     Postfix + rspamd (the peer, rspamd_test.go), at each concurrency,
//     interleaved: smtp-source → smtpd → smtp-sink;
//   - the cold-DNS probe at concurrency 1: a DNS server answering after 50 ms,
//     spamgate with its cache on (warm) and off (cache_size = -1: every lookup
//     of every message waits for the server), to show how many round trips a
//     message waits for when the lookups run in parallel.
//
// It prints Markdown tables at the end (see doc.go for the knobs).
func BenchmarkPostfix(b *testing.B) {
	began := time.Now()
	concs := envInts(b, "SPAMGATE_BENCH_CONC", []int{1, 10, 50})
	count := envInts(b, "SPAMGATE_BENCH_COUNT", []int{20000})[0]
	coldCount := envInts(b, "SPAMGATE_BENCH_COLD_COUNT", []int{100})[0]
	// rspamd runs at a fifth of Postfix's pace: a quarter of the messages
	// keeps the whole run within half an hour.
	peerCount := envInts(b, "SPAMGATE_BENCH_PEER_COUNT", []int{max(count/4, 1)})[0]

	bin := buildSpamgate(b)
	dns := mtarig.StartDNS(b, zoneFile, 0)
	sk := startSink(b)
	sg := startSpamgate(b, bin, dns.Addr, 0)
	rs := startRspamd(b, dns.Addr)
	targets := []target{
		{key: "alone", name: "Postfix alone", postfix: startPostfix(b, sk, "")},
		{key: "spamgate", name: "Postfix + spamgate", postfix: startPostfix(b, sk, sg.Milter), sg: sg, dns: dns},
		{key: "rspamd", name: "Postfix + rspamd", postfix: startPostfix(b, sk, rs.Milter), sg: rs, dns: dns},
	}

	var results []result
	for _, conc := range concs {
		for _, t := range targets {
			n := count
			if t.key == "rspamd" {
				n = peerCount
			}
			if conc == 1 {
				n = max(n/10, 1)
			}
			b.Run(fmt.Sprintf("%s/conc=%d", t.key, conc), func(b *testing.B) {
				var r result
				for range b.N {
					var err error
					if r, err = measure(t, sk, conc, n); err != nil {
						b.Fatalf("%s, concurrency %d: %v\nPostfix log (tail):\n%s", t.name, conc, err, mtarig.Tail(t.postfix.Log(), 30))
					}
				}
				report(b, r)
				results = append(results, r)
			})
		}
	}

	// Cold DNS: its own DNS server (answers after 50 ms) and two spamgates,
	// each behind its own Postfix (smtpd_milters is fixed at start).
	var cold []result
	var coldTimeline string
	coldDNS := mtarig.StartDNS(b, zoneFile, coldDelay)
	tap := startTap(b, coldDNS.Addr)
	for _, probe := range []struct {
		name      string
		cacheSize int
	}{{"warm cache", 0}, {"cold (no cache)", -1}} {
		b.Run("colddns/"+strings.Fields(probe.name)[0], func(b *testing.B) {
			psg := startSpamgate(b, bin, tap.Addr, probe.cacheSize)
			mark := tap.Mark()
			t := target{name: probe.name, postfix: startPostfix(b, sk, psg.Milter), sg: psg, dns: coldDNS}
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
	memTarget := targets[1]
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
	sg := t.sg.(*mtarig.Spamgate)
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
	if err := runSource(context.Background(), t.postfix.SMTPAddr, m.conc, m.n, m.bodyLen); err != nil {
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

// writeTable prints the throughput table; each milter row (spamgate, rspamd)
// is compared with the Postfix-alone row of the same concurrency.
func writeTable(w *strings.Builder, rs []result) {
	fmt.Fprintln(w, "| scenario | conc | messages | seconds | msg/s | ratio to Postfix alone | milter CPU s / 1000 msg | Postfix CPU s / 1000 msg | milter peak RSS | client ms per message |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	alone := map[int]result{}
	for _, r := range rs {
		if !r.milter {
			alone[r.conc] = r
		}
	}
	for _, r := range rs {
		ratio, cpu, rss := "1", "—", "—"
		if r.milter {
			ratio = "—"
			if a, ok := alone[r.conc]; ok {
				ratio = fmt.Sprintf("%.2f", r.rate()/a.rate())
			}
			cpu = fmt.Sprintf("%.2f", r.cpu.Seconds()*1000/float64(r.n))
			rss = fmt.Sprintf("%.1f MiB", float64(r.peakRSS)/(1<<20))
			if r.pss > 0 {
				rss += fmt.Sprintf(" (PSS %.0f MiB)", float64(r.pss)/(1<<20))
			}
		}
		fmt.Fprintf(w, "| %s | %d | %d | %.1f | %.0f | %s | %s | %.2f | %s | %.1f |\n",
			r.scenario, r.conc, r.n, r.delivered.Seconds(), r.rate(), ratio, cpu, r.pfCPU.Seconds()*1000/float64(r.n), rss, clientMs(r))
	}
	fmt.Fprintln(w, "\nseconds: from the start of smtp-source until smtp-sink has every message;"+
		" client ms per message: smtp-source's own duration × concurrency / messages"+
		" (the SMTP session as the client sees it, queueing included);"+
		" Postfix CPU: its master and every daemon it ran (smtpd, cleanup, qmgr, smtp, …);"+
		" milter CPU and peak RSS: spamgate's process, or the sum over rspamd's processes"+
		" (main, proxies, hyperscan helper), whose VmHWM counts the pages they share once per process"+
		" (PSS: the group's proportional set size at the end of the run).")
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
