package greylist

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scaleKey is triplet i of a botnet's day: one client network and one
// sender per triplet, so that every triplet and every client key differs.
func scaleKey(i int) Key {
	c := netip.AddrFrom4([4]byte{byte(11 + i>>16), byte(i >> 8), byte(i), 1})
	return MakeKey(Request{Client: c, Sender: "s" + strconv.Itoa(i) + "@botnet.example", Rcpt: "r@example.org"}, Params{})
}

// heapObjects is the live heap (objects not yet swept included), read
// without stopping the world.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// checkLatency runs Check on keys in a loop until stop is closed and
// records the longest call per phase (phase is read before each call).
type checkLatency struct {
	phase atomic.Int32
	max   [4]atomic.Int64 // nanoseconds, by phase
	wg    sync.WaitGroup
	stop  chan struct{}
}

func startCheckLatency(s Store, keys []Key, p Params) *checkLatency {
	l := &checkLatency{stop: make(chan struct{})}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		ctx := context.Background()
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			default:
			}
			ph := l.phase.Load()
			t0 := time.Now()
			_, _ = s.Check(ctx, keys[i%len(keys)], p)
			if d := int64(time.Since(t0)); d > l.max[ph].Load() {
				l.max[ph].Store(d)
			}
			if i%64 == 0 {
				time.Sleep(50 * time.Microsecond) // a busy MX, not a spinning one
			}
		}
	}()
	return l
}

func (l *checkLatency) done() { close(l.stop); l.wg.Wait() }

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// BenchmarkMemoryScale measures the embedded store at a botnet's day
// (issue 18 item 5): N new triplets (GREYLIST_SCALE_N, default 1,000,000),
// the first tenth of them passed (so as many auto-whitelist counters).
// It reports the heap they take, one save (time, bytes written, bytes
// allocated), the sweep that expires the other half of the waiting ones,
// the longest Check that ran concurrently with the save and with the
// sweep (and, as a baseline of the machine's own jitter, with neither),
// the longest hold of the lock by a batch of either, and one load (time,
// peak heap growth). Run by `make bench`:
//
//	go test -run '^$' -bench MemoryScale -benchtime 1x ./greylist/
func BenchmarkMemoryScale(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("GREYLIST_SCALE_N")); err == nil && v > 0 {
		n = v
	}
	for b.Loop() {
		scaleRun(b, n)
	}
}

func scaleRun(b *testing.B, n int) {
	file := filepath.Join(b.TempDir(), "greylist.state")
	clk := newClock()
	p := Params{}.WithDefaults()
	ctx := context.Background()
	heap0 := liveHeap()
	m, err := NewMemory(MemoryOptions{File: file, Now: clk.Now, MaxTriplets: n, SaveInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	for i := range n {
		if i == n/2 {
			clk.Advance(time.Hour) // the second half expires an hour after the first
		}
		if _, err := m.Check(ctx, scaleKey(i), p); err != nil {
			b.Fatal(err)
		}
	}
	fill := time.Since(t0)
	clk.Advance(p.Delay)
	for i := range n / 10 {
		if d, _ := m.Check(ctx, scaleKey(i), p); d.Reason != ReasonPass {
			b.Fatalf("retry of triplet %d: %+v", i, d)
		}
	}
	heap := liveHeap() - heap0
	passed := make([]Key, n/10)
	for i := range passed {
		passed[i] = scaleKey(i)
	}

	lat := startCheckLatency(m, passed, p)
	time.Sleep(500 * time.Millisecond) // idle: the machine's own latency, as a baseline
	lat.phase.Store(1)
	a0, t0 := totalAlloc(), time.Now()
	if err := m.save(); err != nil {
		b.Fatal(err)
	}
	save, saveAlloc := time.Since(t0), totalAlloc()-a0
	fi, err := os.Stat(file)
	if err != nil {
		b.Fatal(err)
	}
	lat.phase.Store(0)
	time.Sleep(20 * time.Millisecond)
	clk.Advance(p.RetryWindow - time.Hour/2) // the first half of the waiting ones expire
	lat.phase.Store(2)
	t0 = time.Now()
	m.sweep()
	sweep := time.Since(t0)
	lat.phase.Store(0)
	lat.done()
	c, _ := m.Counts(ctx)
	if c.Passed != len(passed) {
		b.Fatalf("after the sweep: %+v, want %d passed", c, len(passed))
	}
	clk.Advance(-(p.RetryWindow - time.Hour/2)) // back, so that the load keeps all the saved state
	m.o.File = ""                               // Close must not save the swept state over the full one
	holds := m.Stats()
	_ = m.Close()
	m, passed = nil, nil
	_ = m

	base := liveHeap()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if h := heapObjects(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	t0 = time.Now()
	m2, err := NewMemory(MemoryOptions{File: file, Now: clk.Now, MaxTriplets: n, SaveInterval: time.Hour})
	load := time.Since(t0)
	close(stop)
	wg.Wait()
	if err != nil {
		b.Fatal(err)
	}
	m2.o.File = ""
	defer m2.Close()
	if c2, _ := m2.Counts(ctx); c2.Waiting+c2.Passed != c.Waiting+c.Passed {
		b.Logf("loaded %+v, had %+v before the sweep", c2, c)
	}

	mb := func(v uint64) float64 { return float64(v) / (1 << 20) }
	b.ReportMetric(float64(n), "triplets")
	b.ReportMetric(fill.Seconds(), "fill-s")
	b.ReportMetric(mb(heap), "heap-MiB")
	b.ReportMetric(float64(heap)/float64(n), "heap-B/triplet")
	b.ReportMetric(save.Seconds()*1000, "save-ms")
	b.ReportMetric(mb(uint64(fi.Size())), "file-MiB")
	b.ReportMetric(mb(saveAlloc), "save-alloc-MiB")
	b.ReportMetric(sweep.Seconds()*1000, "sweep-ms")
	b.ReportMetric(ms(lat.max[1].Load()), "check-max-ms-save")
	b.ReportMetric(ms(lat.max[2].Load()), "check-max-ms-sweep")
	b.ReportMetric(ms(lat.max[0].Load()), "check-max-ms-idle")
	b.ReportMetric(ms(int64(holds.MaxSaveHold)), "hold-max-ms-save")
	b.ReportMetric(ms(int64(holds.MaxSweepHold)), "hold-max-ms-sweep")
	b.ReportMetric(load.Seconds()*1000, "load-ms")
	b.ReportMetric(mb(peak.Load()-min(peak.Load(), base)), "load-peak-MiB")
}
