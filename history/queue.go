package history

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQueueLen is how many records may wait for the writer. At a few
// hundred transactions per second it covers seconds of a stalled disk or
// Redis; past it, records are dropped, never mail delayed.
const DefaultQueueLen = 4096

// batchMax bounds one write: the records the writer takes off the queue
// before it writes them in one append (or one Redis pipeline).
const batchMax = 256

// Counters are a store's statistics, for metrics.
type Counters struct {
	Written       uint64 // records written
	DroppedFull   uint64 // records dropped because the queue was full (a hung disk or Redis)
	DroppedError  uint64 // records dropped by a failed write (a full disk, Redis down)
	Corrupt       uint64 // damaged records skipped while reading
	Queued        int    // now: records waiting for the writer
	SizeBytes     int64  // now: bytes on disk (file store; -1 when unknown, as for Redis)
	RemovedAge    uint64 // segments (file) removed after history_days
	RemovedSize   uint64 // segments (file) or records (Redis) removed by history_max_bytes
	SegmentsKept  int    // now: segment files (file store)
	LastWriteFail bool   // the latest write failed
}

// sink is where the writer puts batches: it returns how many records of
// the batch it could not write.
type sink interface {
	write(batch []Record) (failed int)
	tick(now time.Time) // housekeeping, about once per tickEvery
}

// queue is the hot path's side of a store: Add is one non-blocking channel
// send; one goroutine takes batches off the channel and hands them to the
// sink.
type queue struct {
	ch        chan Record
	flushReq  chan chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool
	sink      sink
	now       func() time.Time

	written, droppedFull, droppedErr atomic.Uint64
	lastFail                         atomic.Bool
}

// tickEvery is how often the writer does its housekeeping (expiry).
const tickEvery = time.Minute

func newQueue(n int, s sink, now func() time.Time) *queue {
	if n <= 0 {
		n = DefaultQueueLen
	}
	q := &queue{ch: make(chan Record, n), flushReq: make(chan chan struct{}), stop: make(chan struct{}),
		done: make(chan struct{}), sink: s, now: now}
	go q.run()
	return q
}

// add queues r, or drops and counts it when the queue is full or closed.
func (q *queue) add(r Record) {
	if q.closed.Load() {
		q.droppedFull.Add(1)
		return
	}
	select {
	case q.ch <- r:
	default:
		q.droppedFull.Add(1)
	}
}

// run is the writer goroutine.
func (q *queue) run() {
	defer close(q.done)
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	batch := make([]Record, 0, batchMax)
	linger := time.NewTimer(lingerFor)
	linger.Stop()
	for {
		select {
		case r := <-q.ch:
			q.linger(linger)
			batch = q.drain(append(batch[:0], r))
			q.write(batch)
		case ack := <-q.flushReq:
			q.drainAll(batch)
			close(ack)
		case <-t.C:
			q.sink.tick(q.now())
		case <-q.stop:
			q.drainAll(batch)
			return
		}
	}
}

// lingerFor is how long the writer waits, after a record arrives, for
// more to write with it. Records sent meanwhile wait in the channel
// without waking the writer: at a few hundred messages a second, one
// wake-up and one write per batch instead of one per message.
const lingerFor = 50 * time.Millisecond

// linger waits lingerFor, or less when a batch is already full or the
// queue is closing.
func (q *queue) linger(t *time.Timer) {
	if len(q.ch) >= batchMax-1 {
		return
	}
	t.Reset(lingerFor)
	select {
	case <-t.C:
	case <-q.stop:
		t.Stop()
	}
}

// drain adds to batch what is queued, up to batchMax.
func (q *queue) drain(batch []Record) []Record {
	for len(batch) < batchMax {
		select {
		case r := <-q.ch:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// drainAll writes everything queued now.
func (q *queue) drainAll(batch []Record) {
	for {
		batch = q.drain(batch[:0])
		if len(batch) == 0 {
			return
		}
		q.write(batch)
	}
}

func (q *queue) write(batch []Record) {
	now := q.now()
	for i := range batch {
		if batch[i].Time.IsZero() {
			batch[i].Time = now
		}
	}
	failed := q.sink.write(batch)
	q.written.Add(uint64(len(batch) - failed))
	q.droppedErr.Add(uint64(failed))
	q.lastFail.Store(failed > 0)
	clear(batch) // let the records' strings go
}

// sync waits until every record queued before the call is written.
func (q *queue) sync() {
	ack := make(chan struct{})
	select {
	case q.flushReq <- ack:
		<-ack
	case <-q.done:
	}
}

// close writes what is queued and stops the writer.
func (q *queue) close() {
	q.closeOnce.Do(func() {
		q.closed.Store(true)
		close(q.stop)
	})
	<-q.done
}

// counters fills the queue's part of Counters.
func (q *queue) counters(c *Counters) {
	c.Written, c.DroppedFull, c.DroppedError = q.written.Load(), q.droppedFull.Load(), q.droppedErr.Load()
	c.Queued, c.LastWriteFail = len(q.ch), q.lastFail.Load()
}
