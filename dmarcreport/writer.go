package dmarcreport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of HistoryOptions.
const (
	// DefaultQueueSize is how many evaluations may wait for the disk. At
	// 500 messages a second it is two seconds of mail.
	DefaultQueueSize = 1024
	// DefaultWait is HistoryOptions.Wait's default.
	DefaultWait = 2 * time.Millisecond
	// errorLogInterval: a failing disk is logged at most this often.
	errorLogInterval = time.Minute
	// closeTimeout bounds how long Close waits for the queue to be written.
	closeTimeout = 5 * time.Second
	// retentionInterval: how often old day files are looked for.
	retentionInterval = time.Hour
)

// HistoryOptions tune a History; the zero value is valid.
type HistoryOptions struct {
	// Days is how many past UTC days of files are kept besides today's
	// ([dmarc] history_days); older day files are deleted when the History
	// opens and every hour after. 0 keeps every file.
	Days int
	// QueueSize bounds the evaluations waiting for the disk (0: the
	// default); more are dropped and counted, never waited for.
	QueueSize int
	// Wait is how long Append waits for its line to be written (0: the
	// default, DefaultWait). A working disk writes in microseconds, so the
	// line is on disk when Append returns, as when it wrote itself; a
	// hung one costs a message at most Wait, and nothing once the queue
	// is full.
	Wait time.Duration
	// Log receives the write errors (at most one line a minute); nil is
	// slog.Default().
	Log *slog.Logger
	// now is the clock (tests); nil is time.Now.
	now func() time.Time
	// closeTimeout (tests): 0 is the default.
	closeTimeout time.Duration
}

// HistoryStats are a History's counters since it was opened. The fields
// match metrics.DMARCHistoryStats one for one, so that type converts.
type HistoryStats struct {
	Written uint64 // evaluations written
	Dropped uint64 // evaluations dropped: queue full or write error
	Errors  uint64 // failed writes (each may drop several evaluations)
	Queued  int    // evaluations waiting now
	Removed uint64 // day files deleted by retention
}

// History appends evaluations to DIR/dmarc-YYYY-MM-DD.jsonl (UTC day of the
// evaluation), safe for concurrent use.
//
// Append never touches the disk: it queues the evaluation for a writer
// goroutine, which writes whatever is waiting with one system call, and
// waits for that at most HistoryOptions.Wait. A write that hangs (a dead
// NFS server, a failing disk) therefore holds a message up at most Wait;
// the queue fills and further evaluations are dropped at once. A failed
// write (ENOSPC, EIO, a removed directory) drops what it carried. Both are
// counted (Stats) and logged at error level at most once a minute with the
// count since the last line: the history is for reports, and mail must
// never wait for it. A crash loses the queued lines (at most QueueSize).
type History struct {
	dir   string
	opts  HistoryOptions
	log   *slog.Logger
	queue chan pending

	// closeMu orders Append's queue sends before Close closes the queue.
	closeMu sync.RWMutex
	closed  bool

	// mu guards the open file: the writer holds it while writing.
	mu      sync.Mutex
	day     string // the day of f, "" when none is open
	f       *os.File
	partial bool // the last write failed: the file may end mid-line
	buf     bytes.Buffer

	written, dropped, errs, removed atomic.Uint64
	lastErr                         atomic.Pointer[string]
	logMu                           sync.Mutex
	lastLog                         time.Time
	unlogged                        uint64 // drops since the last error line

	stop context.CancelFunc
	done chan struct{} // closed when the writer and retention goroutines end
	wg   sync.WaitGroup
}

// OpenHistory opens dir with the default options: no retention.
func OpenHistory(dir string) (*History, error) { return OpenHistoryWith(dir, HistoryOptions{}) }

// OpenHistoryWith creates dir if needed and starts the writer and, when
// o.Days > 0, the retention. Files are opened on first write.
func OpenHistoryWith(dir string, o HistoryOptions) (*History, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("dmarc history: %w", err)
	}
	if o.Days < 0 {
		return nil, fmt.Errorf("dmarc history: %d days", o.Days)
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	if o.closeTimeout <= 0 {
		o.closeTimeout = closeTimeout
	}
	h := &History{dir: dir, opts: o, log: o.Log, queue: make(chan pending, o.QueueSize), done: make(chan struct{})}
	if h.log == nil {
		h.log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	h.wg.Add(1)
	go h.writer()
	if o.Days > 0 {
		h.wg.Add(1)
		go h.retain(ctx)
	}
	go func() { h.wg.Wait(); close(h.done) }()
	return h, nil
}

// errClosed is Append's answer after Close.
var errClosed = errors.New("dmarc history: closed")

// Append records e, capped as bounded says. A zero Time is set to now. It
// returns an error only after Close: a write error or a full queue is the
// History's to count and log (see History), not the caller's, so that a
// failing disk makes one log line a minute, not one per message. The line
// is encoded by the writer goroutine, off the caller's path.
func (h *History) Append(e Evaluation) error {
	if e.Time.IsZero() {
		e.Time = h.opts.now()
	}
	e.Time = e.Time.UTC()
	e = bounded(e) // copies the lists: the caller may reuse its slices
	h.closeMu.RLock()
	defer h.closeMu.RUnlock()
	if h.closed {
		return errClosed
	}
	p := pending{e: e, done: make(chan struct{})}
	select {
	case h.queue <- p:
	default:
		h.drop(1, errors.New("dmarc history: queue full (the disk is too slow or hangs)"))
		return nil
	}
	t := time.NewTimer(h.opts.Wait)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
	}
	return nil
}

// pending is a queued evaluation; done is closed once it is written or
// dropped.
type pending struct {
	e    Evaluation
	done chan struct{}
}

// writer writes what Append queued, as many lines per system call as are
// waiting, until Close closes the queue.
func (h *History) writer() {
	defer h.wg.Done()
	batch := make([]pending, 0, 64)
	for p := range h.queue {
		batch = append(batch[:0], p)
	drain:
		for len(batch) < cap(batch) {
			select {
			case p, ok := <-h.queue:
				if !ok {
					break drain
				}
				batch = append(batch, p)
			default:
				break drain
			}
		}
		h.mu.Lock()
		h.write(batch)
		h.mu.Unlock()
		for _, p := range batch {
			close(p.done)
		}
		clear(batch) // no evaluation kept alive until the next batch
	}
}

// write appends the evaluations to their day files, one write per run of
// the same day. h.mu must be held.
func (h *History) write(evals []pending) {
	for len(evals) > 0 {
		day := dayOf(evals[0].e.Time)
		n := 1
		for n < len(evals) && dayOf(evals[n].e.Time) == day {
			n++
		}
		h.writeDay(day, evals[:n])
		evals = evals[n:]
	}
}

// writeDay writes evals to the file of day, counting what is written and
// what is dropped. An evaluation whose line is over MaxLineBytes (the caps
// make that impossible) is dropped alone. After a failed write the file is
// closed, so that the next write reopens it (the directory may have been
// recreated, space freed), and starts with a newline: a partly written
// line stays one malformed line that Read skips, not glued to the next.
func (h *History) writeDay(day string, evals []pending) {
	h.buf.Reset()
	if h.partial {
		h.buf.WriteByte('\n')
	}
	n := 0
	for _, p := range evals {
		line, err := jsonLine(p.e)
		if err == nil && len(line) > MaxLineBytes {
			err = fmt.Errorf("dmarc history: a %d-byte line is over %d bytes", len(line), MaxLineBytes)
		}
		if err != nil {
			h.drop(1, err)
			continue
		}
		h.buf.Write(line)
		n++
	}
	if n == 0 {
		return
	}
	err := h.rotate(day)
	if err == nil {
		if _, err = h.f.Write(h.buf.Bytes()); err != nil {
			err = fmt.Errorf("dmarc history: write %s: %w", h.f.Name(), err)
			h.partial = true
			h.closeFile()
		}
	}
	if err != nil {
		h.errs.Add(1)
		h.drop(uint64(n), err)
		return
	}
	h.partial = false
	h.written.Add(uint64(n))
	if h.buf.Cap() > 1<<20 {
		h.buf = bytes.Buffer{} // a burst's buffer is not kept
	}
}

// rotate makes the file of day the open one. h.mu must be held.
func (h *History) rotate(day string) error {
	if h.f != nil && h.day == day {
		return nil
	}
	h.closeFile()
	name := filepath.Join(h.dir, "dmarc-"+day+".jsonl")
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("dmarc history: %w", err)
	}
	h.f, h.day = f, day
	return nil
}

// closeFile closes the open file, if any. h.mu must be held. Lines are
// written whole with each write: there is nothing to flush.
func (h *History) closeFile() error {
	if h.f == nil {
		return nil
	}
	err := h.f.Close()
	h.f, h.day = nil, ""
	if err != nil {
		return fmt.Errorf("dmarc history: close: %w", err)
	}
	return nil
}

// drop counts n lost evaluations and logs err, at most once a minute.
func (h *History) drop(n uint64, err error) {
	h.dropped.Add(n)
	msg := err.Error()
	h.lastErr.Store(&msg)
	h.logMu.Lock()
	h.unlogged += n
	now := h.opts.now()
	if !h.lastLog.IsZero() && now.Sub(h.lastLog) < errorLogInterval {
		h.logMu.Unlock()
		return
	}
	count := h.unlogged
	h.unlogged, h.lastLog = 0, now
	h.logMu.Unlock()
	h.log.Error("dmarc history: evaluations dropped, aggregate reports will miss them",
		"dropped", count, "dropped_total", h.dropped.Load(), "error", msg, "dir", h.dir)
}

// Stats returns the counters (for metrics and tests).
func (h *History) Stats() HistoryStats {
	return HistoryStats{Written: h.written.Load(), Dropped: h.dropped.Load(), Errors: h.errs.Load(),
		Queued: len(h.queue), Removed: h.removed.Load()}
}

// LastError is the last reason an evaluation was dropped, "" if none.
func (h *History) LastError() string {
	if p := h.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

// Close writes what is queued, stops the goroutines and closes the file;
// later Appends fail.
func (h *History) Close() error {
	h.closeMu.Lock()
	if h.closed {
		h.closeMu.Unlock()
		return nil
	}
	h.closed = true
	close(h.queue)
	h.closeMu.Unlock()
	h.stop()
	select {
	case <-h.done:
	case <-time.After(h.opts.closeTimeout):
		// The writer is stuck in a system call: leave it (and the file)
		// rather than hang a reload or the shutdown.
		return fmt.Errorf("dmarc history: close: the writer is stuck, %d evaluations not written", len(h.queue))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closeFile()
}

func dayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }
