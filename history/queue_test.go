package history

import (
	"testing"
	"time"
)

// stuckSink is a disk that hangs: write blocks until released.
type stuckSink struct {
	release chan struct{}
	got     int
}

func (s *stuckSink) write(b []Record) int {
	<-s.release
	s.got += len(b)
	return 0
}

func (s *stuckSink) tick(time.Time) {}

// TestQueueFull: while the writer hangs, Add neither blocks nor grows
// memory: past the queue's length records are dropped and counted.
func TestQueueFull(t *testing.T) {
	sink := &stuckSink{release: make(chan struct{})}
	q := newQueue(8, sink, time.Now)
	q.add(Record{Client: "192.0.2.1"})
	for deadline := time.Now().Add(2 * time.Second); len(q.ch) > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond) // until the writer holds it, hung
	}
	t0 := time.Now()
	for range 99 {
		q.add(Record{Client: "192.0.2.1"})
	}
	took := time.Since(t0)
	close(sink.release)
	q.close()
	var c Counters
	q.counters(&c)
	// The writer took 1 record before it hung, the queue held 8 more.
	if c.Written != 9 || c.DroppedFull != 91 || sink.got != 9 {
		t.Errorf("counters %+v (sink got %d): want 9 written, 91 dropped", c, sink.got)
	}
	if took > 50*time.Millisecond {
		t.Errorf("99 Adds into a hung writer took %v", took)
	}
	q.add(Record{}) // after Close: dropped, no panic
	q.counters(&c)
	if c.DroppedFull != 92 {
		t.Errorf("Add after Close: %d dropped, want 92", c.DroppedFull)
	}
}

func BenchmarkAdd(b *testing.B) {
	q := newQueue(DefaultQueueLen, &stuckSink{release: closedChan()}, time.Now)
	defer q.close()
	r := Record{Client: "192.0.2.1", Sender: "a@b.example", Recipients: []Recipient{{Addr: "x@corp.test"}}}
	b.ReportAllocs()
	for b.Loop() {
		q.add(r)
	}
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}
