package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"spamgate/config"
	"spamgate/daemon"
	"spamgate/dkim"
	"spamgate/dnsx/dnstest"
	"spamgate/engine"
	"spamgate/greylist"
	"spamgate/internal/miltertest"
	"spamgate/internal/redistest"
)

const benchConfig = `
[milter]
listen = "%s"
authserv_id = "mx.test"
internal_networks = []
[log]
level = "warn"
[dns]
nameservers = ["%s"]
[dnsbl]
threshold = 2
[[dnsbl.zone]]
name = "bl.test"
weight = 2
[[dnsbl.zone]]
name = "light.test"
weight = 1
# Greylisting for every client in a real redis-server, the benchmark's
# triplet released first: each RCPT costs one store round trip ("pass").
[greylist]
mode = "always"
store = "redis"
awl_count = 0
[greylist.redis]
addresses = ["%s"]
# The decision history on, as in a packaged install (its directory exists).
[admin]
history_dir = "%s"
`

// startSpamgate runs the daemon with every check of this release on,
// against the loopback DNS server serving testdata/dns/integration.zone.
func startSpamgate(b *testing.B, listen string, key dkim.Key) *daemon.Daemon {
	z, err := dnstest.LoadZoneFile("../testdata/dns/integration.zone", "test.")
	if err != nil {
		b.Fatal(err)
	}
	rec, err := dkim.DNSRecord(key.Signer.Public())
	if err != nil {
		b.Fatal(err)
	}
	if err := z.AddText(fmt.Sprintf("%s._domainkey.%s. 300 TXT %s", key.Selector, key.Domain, dnstest.QuoteTXT(rec))); err != nil {
		b.Fatal(err)
	}
	srv := dnstest.Start(b, z)
	rs := redistest.Start(b)
	cfg, err := config.Parse("bench.toml", fmt.Appendf(nil, benchConfig, listen, srv.Addr, rs.Addr(), filepath.Join(b.TempDir(), "history")))
	if err != nil {
		b.Fatal(err)
	}
	releaseTriplet(b, cfg)
	d, err := daemon.Start(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Shutdown(ctx)
	})
	return d
}

// benchKey is the benchmark's DKIM key: RSA 2048 for good.test, whose
// DMARC record (p=quarantine) then passes aligned on DKIM as well as SPF.
func benchKey(b *testing.B) dkim.Key {
	signer, _, err := dkim.GenerateKey("rsa")
	if err != nil {
		b.Fatal(err)
	}
	return dkim.Key{Domain: "good.test", Selector: "bench", Signer: signer}
}

// message is a 6 KB message with the headers of a typical delivery,
// DKIM-signed with key (relaxed/relaxed), as issue 14 measures.
func message(b *testing.B, key dkim.Key) miltertest.Tx {
	body := make([]byte, 0, 6<<10)
	for len(body) < 6<<10 {
		body = append(body, "The quick brown fox jumps over the lazy dog, again and again and again.\r\n"...)
	}
	headers := [][2]string{
		{"From", " User <user@good.test>"}, {"To", " alice@example.net"},
		{"Subject", " benchmark"}, {"Date", " Mon, 23 Nov 2026 10:00:00 +0000"},
		{"Message-ID", " <bench@good.test>"}, {"MIME-Version", " 1.0"},
		{"Content-Type", " text/plain; charset=utf-8"},
	}
	s, err := dkim.NewSigner([]dkim.Key{key})
	if err != nil {
		b.Fatal(err)
	}
	for _, h := range headers {
		s.Header(h[0], h[1])
	}
	s.EndHeaders()
	if err := s.Body(body); err != nil {
		b.Fatal(err)
	}
	sigs, err := s.Close()
	if err != nil {
		b.Fatal(err)
	}
	received := [2]string{"Received", " from helo.good.test (helo.good.test [192.0.2.10]) by mx.test"}
	return miltertest.Tx{
		ClientIP: "192.0.2.10", Helo: "helo.good.test", From: "user@good.test",
		Rcpts: []string{"alice@example.net"}, QueueID: "4ABCDEF",
		Headers: append([][2]string{received, {"DKIM-Signature", sigs[0]}}, headers...),
		Body:    string(body),
	}
}

// BenchmarkMilter drives whole transactions (one milter connection each, as
// Postfix opens one per SMTP session) at several concurrencies, with a warm
// DNS cache. It reports messages/s, latency percentiles and CPU time per
// message of the whole process (client and server: an upper bound).
func BenchmarkMilter(b *testing.B) {
	for _, transport := range []string{"inet", "unix"} {
		listen := "inet:127.0.0.1:0"
		if transport == "unix" {
			listen = "unix:" + filepath.Join(b.TempDir(), "milter.sock")
		}
		key := benchKey(b)
		d := startSpamgate(b, listen, key)
		addr := d.Addr().String()
		tx := message(b, key)
		res, err := miltertest.Run(addr, tx) // warms the DNS cache
		if err != nil {
			b.Fatal(err)
		}
		if ar := strings.Join(res.Header("Authentication-Results"), "\n"); !strings.Contains(ar, "dkim=pass") {
			b.Fatalf("the benchmark's message does not pass DKIM: %q", ar)
		}
		for _, conc := range []int{1, 10, 50} {
			b.Run(fmt.Sprintf("%s/conc=%d", transport, conc), func(b *testing.B) {
				runConcurrent(b, addr, tx, conc)
			})
		}
	}
}

func runConcurrent(b *testing.B, addr string, tx miltertest.Tx, conc int) {
	var next atomic.Int64
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	var failed atomic.Value
	cpu0 := cpuTime()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mallocs0, bytes0 := ms.Mallocs, ms.TotalAlloc
	gc0 := gcCPU()
	b.ResetTimer()
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				res, err := miltertest.Run(addr, tx)
				lat[i] = time.Since(t0)
				if err == nil && res.Refused("alice@example.net") != "" {
					err = fmt.Errorf("refused: %s", res.Refused("alice@example.net"))
				}
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	runtime.ReadMemStats(&ms)
	slices.Sort(lat)
	n := float64(b.N)
	b.ReportMetric(n/elapsed.Seconds(), "msg/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/n, "cpu-µs/msg")
	b.ReportMetric(float64(ms.Mallocs-mallocs0)/n, "allocs/msg")
	b.ReportMetric(float64(ms.TotalAlloc-bytes0)/n/1024, "alloc-KiB/msg")
	b.ReportMetric((gcCPU()-gc0)*1e6/n, "gc-cpu-µs/msg")
}

// gcCPU is the runtime's estimate of the CPU time its garbage collector
// has used so far, in seconds (client and server share the process: the
// share of the two is what the figure tells).
func gcCPU() float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	return s[0].Value.Float64()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// releaseTriplet marks the benchmark's greylist triplet passed, as
// `spamgate greylist release` does (SPF passes, so its client part is the
// sender's domain).
func releaseTriplet(b *testing.B, cfg *config.Config) {
	store, err := engine.NewGreylistStore(cfg.Greylist)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	g := cfg.Greylist
	p := greylist.Params{Delay: g.Delay.Duration, RetryWindow: g.RetryWindow.Duration, PassTTL: g.PassTTL.Duration}
	k := greylist.MakeKey(greylist.Request{SPFDomain: "good.test", Sender: "user@good.test", Rcpt: "alice@example.net"}, p)
	if err := store.Release(context.Background(), k, p); err != nil {
		b.Fatal(err)
	}
}
