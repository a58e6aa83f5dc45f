package dnsx

import (
	"context"
	"testing"
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
