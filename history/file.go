package history

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// FileOptions configure the embedded store.
type FileOptions struct {
	Dir      string // created (mode 0700) in its existing parent if missing; segments are 0600: they hold addresses
	Days     int    // retention
	MaxBytes int64  // cap on the segments' total size; the oldest go first
	QueueLen int    // records waiting for the writer; 0: DefaultQueueLen
	Log      *slog.Logger
	Now      func() time.Time // the clock; nil: time.Now
}

// The store is a directory of append-only segments, one or more per hour:
//
//	20261207T23-0001.log
//
// (the UTC hour it was opened in, and a sequence number). The writer
// appends to one segment; it starts a new one each hour, when the segment
// reaches segmentBytes, after a failed write (the failed segment may end in
// a torn line) and at every start (the last one may have been cut short by
// a crash). Expiry and the size cap delete whole segments, oldest first:
// no file is ever rewritten.
const segmentExt = ".log"

// segmentBytes is the size at which a segment is closed: a 64th of the cap
// (so that the cap removes little at a time), at least 256 KiB.
func segmentBytes(maxBytes int64) int64 { return max(maxBytes/64, 256<<10) }

type segment struct {
	name string
	hour time.Time
	seq  int
	size int64
}

// parseSegment reads a segment's name; ok false for any other file.
func parseSegment(name string) (segment, bool) {
	base, ok := cutSuffix(name, segmentExt)
	if !ok || len(base) != 16 || base[11] != '-' {
		return segment{}, false
	}
	hour, err := time.Parse("20060102T15", base[:11])
	if err != nil {
		return segment{}, false
	}
	seq, err := strconv.Atoi(base[12:])
	if err != nil || seq < 0 {
		return segment{}, false
	}
	return segment{name: name, hour: hour, seq: seq}, true
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) < len(suffix) || s[len(s)-len(suffix):] != suffix {
		return s, false
	}
	return s[:len(s)-len(suffix)], true
}

func segmentName(hour time.Time, seq int) string {
	return fmt.Sprintf("%s-%04d%s", hour.UTC().Format("20060102T15"), seq, segmentExt)
}

func segmentLess(a, b segment) int {
	if c := a.hour.Compare(b.hour); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// FileStore is the embedded decision history.
type FileStore struct {
	reader
	o   FileOptions
	q   *queue
	log *slog.Logger

	mu    sync.Mutex
	segs  []segment // oldest first; the last one is cur's when cur is open
	total int64
	// reported holds the segments whose damage was logged, so that each
	// is logged once, not at every query.
	reported map[string]bool

	// The writer goroutine's own state.
	cur    *os.File
	curSeg segment
	buf    []byte
	broken bool // the last write failed (logged once per failure streak)

	corrupt, removedAge, removedSize atomic.Uint64
}

// OpenFile opens (or creates) the embedded store in o.Dir. It fails only
// when the directory cannot be made or written: the caller then runs
// without history (it must never keep mail from flowing).
func OpenFile(o FileOptions) (*FileStore, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Days < 1 {
		o.Days = 1
	}
	// Only the last component is made: its parent is the state directory
	// the package (systemd's StateDirectory) provides. Where there is none
	// (a test machine, a one-command run), the history stays off rather
	// than spreading directories over the file system.
	if err := os.Mkdir(o.Dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("history_dir: %w", err)
	}
	probe, err := os.CreateTemp(o.Dir, ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("history_dir %s is not writable: %w", o.Dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	s := &FileStore{o: o, log: o.Log, reported: map[string]bool{}}
	s.reader = reader{src: s, now: o.Now, days: o.Days}
	if err := s.load(); err != nil {
		return nil, err
	}
	s.tick(o.Now())
	s.q = newQueue(o.QueueLen, s, o.Now)
	return s, nil
}

// load lists the segments already there.
func (s *FileStore) load() error {
	entries, err := os.ReadDir(s.o.Dir)
	if err != nil {
		return fmt.Errorf("history_dir: %w", err)
	}
	for _, e := range entries {
		seg, ok := parseSegment(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		seg.size = info.Size()
		s.segs = append(s.segs, seg)
		s.total += seg.size
	}
	slices.SortFunc(s.segs, segmentLess)
	return nil
}

// Add queues r for the writer; see Store.
func (s *FileStore) Add(r Record) { s.q.add(r) }

// Sync waits until every record added before the call is written (tests,
// and the console after a change it wants to show).
func (s *FileStore) Sync() { s.q.sync() }

// Close writes what is queued and closes the segment.
func (s *FileStore) Close() error {
	s.q.close()
	if s.cur != nil {
		err := s.cur.Close()
		s.cur = nil
		if err != nil {
			return fmt.Errorf("history segment %s: %w", s.curSeg.name, err)
		}
	}
	return nil
}

// Counters returns the store's statistics.
func (s *FileStore) Counters() Counters {
	var c Counters
	s.q.counters(&c)
	s.mu.Lock()
	c.SizeBytes, c.SegmentsKept = s.total, len(s.segs)
	s.mu.Unlock()
	c.Corrupt, c.RemovedAge, c.RemovedSize = s.corrupt.Load(), s.removedAge.Load(), s.removedSize.Load()
	return c
}

// write appends a batch (the writer goroutine).
func (s *FileStore) write(batch []Record) (failed int) {
	s.buf = s.buf[:0]
	for i := range batch {
		var err error
		if s.buf, err = appendLine(s.buf, &batch[i]); err != nil {
			failed++ // cannot happen with these types; counted, not fatal
		}
	}
	if len(s.buf) == 0 {
		return failed
	}
	now := s.o.Now()
	if err := s.ensureSegment(now, int64(len(s.buf))); err != nil {
		s.writeFailed(err)
		return len(batch)
	}
	n, err := s.cur.Write(s.buf)
	s.grow(int64(n))
	if err != nil {
		// A torn line may end the segment: the next batch starts a new one.
		s.cur.Close()
		s.cur = nil
		s.writeFailed(fmt.Errorf("history segment %s: %w", s.curSeg.name, err))
		return len(batch)
	}
	if s.broken {
		s.broken = false
		s.log.Info("decision history writes again", "dir", s.o.Dir)
	}
	s.enforceCap()
	return failed
}

func (s *FileStore) writeFailed(err error) {
	if !s.broken {
		s.broken = true
		s.log.Warn("decision history write failed: records are dropped until it works again (mail is not affected)",
			"dir", s.o.Dir, "error", err.Error())
	}
}

// ensureSegment opens a new segment when there is none, the hour changed,
// or the current one would grow past segmentBytes.
func (s *FileStore) ensureSegment(now time.Time, n int64) error {
	hour := now.UTC().Truncate(time.Hour)
	if s.cur != nil && s.curSeg.hour.Equal(hour) && s.curSeg.size+n <= segmentBytes(s.o.MaxBytes) {
		return nil
	}
	if s.cur != nil {
		s.cur.Close()
		s.cur = nil
	}
	seg := segment{hour: hour, seq: 1}
	s.mu.Lock()
	if last := len(s.segs) - 1; last >= 0 && !s.segs[last].hour.Before(hour) {
		seg.hour, seg.seq = s.segs[last].hour, s.segs[last].seq+1 // a clock stepped back stays in order
	}
	s.mu.Unlock()
	// O_EXCL: never append to a file this writer did not start (another
	// spamgate wrongly given the same directory takes the next number).
	var f *os.File
	var err error
	for range 100 {
		seg.name = segmentName(seg.hour, seg.seq)
		f, err = os.OpenFile(filepath.Join(s.o.Dir, seg.name), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
		seg.seq++
	}
	if err != nil {
		return fmt.Errorf("history segment: %w", err)
	}
	s.cur, s.curSeg = f, seg
	s.mu.Lock()
	s.segs = append(s.segs, seg)
	s.mu.Unlock()
	return nil
}

// grow accounts n bytes written to the current segment.
func (s *FileStore) grow(n int64) {
	s.curSeg.size += n
	s.mu.Lock()
	s.total += n
	if last := len(s.segs) - 1; last >= 0 && s.segs[last].name == s.curSeg.name {
		s.segs[last].size = s.curSeg.size
	}
	s.mu.Unlock()
}

// enforceCap removes the oldest segments while the total is over
// MaxBytes; the segment being written stays.
func (s *FileStore) enforceCap() {
	for {
		s.mu.Lock()
		if s.total <= s.o.MaxBytes || len(s.segs) < 2 {
			s.mu.Unlock()
			return
		}
		seg := s.segs[0]
		s.mu.Unlock()
		s.remove(seg)
		s.removedSize.Add(1)
	}
}

// tick removes the segments older than Days: a segment goes when the hour
// after it is past the retention.
func (s *FileStore) tick(now time.Time) {
	oldest := now.Add(-time.Duration(s.o.Days) * 24 * time.Hour)
	for {
		s.mu.Lock()
		if len(s.segs) == 0 || s.segs[0].hour.Add(time.Hour).After(oldest) || (s.cur != nil && s.segs[0].name == s.curSeg.name) {
			s.mu.Unlock()
			return
		}
		seg := s.segs[0]
		s.mu.Unlock()
		s.remove(seg)
		s.removedAge.Add(1)
	}
}

// remove deletes the oldest segment, seg.
func (s *FileStore) remove(seg segment) {
	err := os.Remove(filepath.Join(s.o.Dir, seg.name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("decision history: cannot remove an old segment", "file", seg.name, "error", err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.segs) > 0 && s.segs[0].name == seg.name {
		s.segs = s.segs[1:]
		s.total -= seg.size
	}
	delete(s.reported, seg.name)
}

// scan reads the segments newest first, each one forward into memory
// (a segment is at most segmentBytes) and then visited backwards.
func (s *FileStore) scan(ctx context.Context, from time.Time, pre func([]byte) bool, visit func(*Record) bool) error {
	s.mu.Lock()
	segs := slices.Clone(s.segs)
	s.mu.Unlock()
	fromHour := from.UTC().Truncate(time.Hour)
	var recs []Record
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].hour.Before(fromHour) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("history query: %w", err)
		}
		var err error
		if recs, err = s.readSegment(segs[i].name, from, pre, recs[:0]); err != nil {
			return err
		}
		for j := len(recs) - 1; j >= 0; j-- {
			if !visit(&recs[j]) {
				return nil
			}
		}
	}
	return nil
}

// readSegment appends the segment's records at or after from that pass
// pre. Damaged lines are skipped and counted; a last line without its
// newline is a write in progress (or cut by a crash) and is left alone.
func (s *FileStore) readSegment(name string, from time.Time, pre func([]byte) bool, out []Record) ([]Record, error) {
	f, err := os.Open(filepath.Join(s.o.Dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil // expired meanwhile
	}
	if err != nil {
		return out, fmt.Errorf("history segment %s: %w", name, err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	bad := 0
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(long)+len(line) <= MaxLineBytes {
				long = append(long, line...)
			}
			continue
		}
		if long != nil {
			line, long = append(long, line...), nil
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, fmt.Errorf("history segment %s: %w", name, err)
		}
		line = bytes.TrimSuffix(line, []byte{'\n'})
		if pre != nil && len(line) > 9 && !pre(line[9:]) {
			continue
		}
		r, derr := decodeLine(line)
		if derr != nil {
			bad++
			continue
		}
		if !r.Time.Before(from) {
			out = append(out, r)
		}
	}
	if bad > 0 {
		s.damaged(name, bad)
	}
	return out, nil
}

// damaged counts and logs (once per segment) damaged records.
func (s *FileStore) damaged(name string, n int) {
	s.mu.Lock()
	first := !s.reported[name]
	s.reported[name] = true
	s.mu.Unlock()
	if first {
		s.corrupt.Add(uint64(n))
		s.log.Warn("decision history: damaged records skipped", "file", name, "records", n)
	}
}
