package dnsx

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// Taking and giving back slots with free ones allocates nothing: the
// engine's lookups pay it on every query.
func TestSlotsFastPathAllocs(t *testing.T) {
	r, err := New(Config{Nameservers: []string{"127.0.0.1:53"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithSessionLimit(context.Background(), 4)
	allocs := testing.AllocsPerRun(1000, func() {
		sess, fail := r.acquireSlots(ctx)
		if fail != nil {
			t.Fatal(fail.errText)
		}
		r.releaseSlots(sess)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per slot, want 0", allocs)
	}
}

// BenchmarkSlots measures a slot's take and release, session and process.
func BenchmarkSlots(b *testing.B) {
	r, err := New(Config{Nameservers: []string{"127.0.0.1:53"}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := WithSessionLimit(context.Background(), 4)
	b.ReportAllocs()
	for b.Loop() {
		sess, _ := r.acquireSlots(ctx)
		r.releaseSlots(sess)
	}
}

// A positive CacheSize still caps the number of entries, through the least
// charge per entry (CacheBytes/CacheSize).
func TestCacheSizeCapsEntries(t *testing.T) {
	c, err := newCache(Config{CacheBytes: 1 << 20, CacheSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		a := &answer{outcome: found, ttl: time.Hour, weight: 300}
		c.Set(key{name: "n" + strconv.Itoa(i) + ".test", qtype: 1}, a)
	}
	c.CleanUp()
	if n := c.EstimatedSize(); n > 10 {
		t.Fatalf("%d entries cached, want at most 10", n)
	}
	if w := c.WeightedSize(); w > 1<<20 {
		t.Fatalf("%d bytes charged, want at most 1 MiB", w)
	}
}
