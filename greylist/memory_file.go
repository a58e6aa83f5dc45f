package greylist

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// The state file (format 2) is a stream of checksummed blocks, written a
// chunk of slots at a time, so that neither the save nor the load ever
// holds the whole state in a second copy, and a damaged file is read up
// to its first bad block:
//
//	file    = magic *block
//	magic   = "SGGREY" 0x00 0x02
//	block   = kind(1) length(uvarint) payload crc(4, little endian: CRC-32C of kind and payload)
//	kind    = 'T' triplets | 'A' auto-whitelist counters | 'W' whitelist entries | 'E' end (empty)
//	T record = key(16) flags(1: 1 passed) first(varint ms) [pass-first(varint) if passed] exp-first(varint)
//	A record = key(16) count(uvarint) exp(varint ms)
//	W record = kind(1: 'n' network, 'd' domain) length(uvarint) value expires(varint Unix s, 0 never)
//
// A file without its end block was cut short. Keys are hashes (memKeys):
// the file holds no address in clear. Format 1 (JSON, before 2026-12) is
// still read (memory_legacy.go); the next save replaces it.
const (
	memMagic      = "SGGREY\x00\x02"
	blockMaxBytes = 1 << 20 // a reader's bound; the writer cuts blocks at blockCutBytes
	blockCutBytes = 64 << 10
	wlValueMax    = 1024
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// save writes the state to o.File if it changed since the last save:
// atomically (a temporary file in the same directory, synced, renamed
// over the old one, the directory synced), so that a crash leaves the
// old state or the new one, never half of one. It holds the store's lock
// for one chunk copy at a time.
func (m *Memory) save() error {
	if m.o.File == "" {
		return nil
	}
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	m.mu.Lock()
	changes := m.st.changes
	m.mu.Unlock()
	if changes == m.savedChanges {
		return nil
	}
	t0 := time.Now()
	n, err := writeAtomic(m.o.File, m.encode)
	if err != nil {
		return fmt.Errorf("greylist state file %s: %w", m.o.File, err)
	}
	m.savedChanges = changes
	m.mu.Lock()
	m.st.stats.Saves++
	m.st.stats.LastSaveBytes, m.st.stats.LastSaveDuration = n, time.Since(t0)
	m.mu.Unlock()
	return nil
}

// encode writes the whole file to w.
func (m *Memory) encode(w io.Writer) error {
	bw := &blockWriter{w: w}
	if _, err := io.WriteString(w, memMagic); err != nil {
		return err
	}
	now := m.nowMS()
	tbuf := make([]slot[tripletVal], 0, slabChunk)
	for start, more := int32(0), true; more; start += slabChunk {
		tbuf, more = copyChunk(&m.mu, &m.st.trip, start, tbuf[:0], &m.st.stats.MaxSaveHold)
		m.yield()
		for i := range tbuf {
			if s := &tbuf[i]; s.prev != freeSlot && now < s.val.exp {
				bw.triplet(s.key, s.val)
			}
		}
		bw.cut('T', 0)
	}
	abuf := make([]slot[awlVal], 0, slabChunk)
	for start, more := int32(0), true; more; start += slabChunk {
		abuf, more = copyChunk(&m.mu, &m.st.awl, start, abuf[:0], &m.st.stats.MaxSaveHold)
		m.yield()
		for i := range abuf {
			if s := &abuf[i]; s.prev != freeSlot && now < s.val.exp {
				bw.awl(s.key, s.val)
			}
		}
		bw.cut('A', 0)
	}
	for _, w := range m.whitelistCopy() {
		bw.whitelist(w)
	}
	bw.cut('W', 0)
	bw.cut('E', 0)
	return bw.err
}

// copyChunk appends the chunk of slots from start to buf under mu; more
// is false past the last chunk. Copying fixed-size records is all the
// save does under the lock: some microseconds per chunk, the longest
// recorded in *hold.
func copyChunk[V any](mu *sync.Mutex, s *slab[V], start int32, buf []slot[V], hold *time.Duration) (_ []slot[V], more bool) {
	mu.Lock()
	defer mu.Unlock()
	defer held(hold, time.Now())
	if start >= s.used {
		return buf, false
	}
	end := min(start+slabChunk, s.used)
	return append(buf, s.chunks[start>>slabChunkBits][:end-start]...), true
}

func (m *Memory) whitelistCopy() []WhitelistEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]WhitelistEntry, 0, len(m.st.wl))
	for k, exp := range m.st.wl {
		out = append(out, WhitelistEntry{Kind: k.kind, Value: k.value, Expires: timeOrZero(exp)})
	}
	return out
}

// blockWriter builds blocks; the first write error sticks.
type blockWriter struct {
	w   io.Writer
	buf []byte
	err error
}

func (bw *blockWriter) triplet(k memKey, v tripletVal) {
	bw.buf = append(bw.buf, k[:]...)
	if v.pass != 0 {
		bw.buf = append(bw.buf, 1)
		bw.buf = binary.AppendVarint(bw.buf, v.first)
		bw.buf = binary.AppendVarint(bw.buf, v.pass-v.first)
	} else {
		bw.buf = append(bw.buf, 0)
		bw.buf = binary.AppendVarint(bw.buf, v.first)
	}
	bw.buf = binary.AppendVarint(bw.buf, v.exp-v.first)
	bw.cut('T', blockCutBytes)
}

func (bw *blockWriter) awl(k memKey, v awlVal) {
	bw.buf = append(bw.buf, k[:]...)
	bw.buf = binary.AppendUvarint(bw.buf, uint64(v.n))
	bw.buf = binary.AppendVarint(bw.buf, v.exp)
	bw.cut('A', blockCutBytes)
}

func (bw *blockWriter) whitelist(w WhitelistEntry) {
	if len(w.Value) > wlValueMax {
		return // normalized values are far shorter; the reader would refuse it
	}
	kind := byte('n')
	if w.Kind == KindDomain {
		kind = 'd'
	}
	bw.buf = append(bw.buf, kind)
	bw.buf = binary.AppendUvarint(bw.buf, uint64(len(w.Value)))
	bw.buf = append(bw.buf, w.Value...)
	bw.buf = binary.AppendVarint(bw.buf, unixOrZero(w.Expires))
	bw.cut('W', blockCutBytes)
}

// cut writes the pending records as one block of kind when they reach
// atLeast bytes and are not none; the end block is always written.
func (bw *blockWriter) cut(kind byte, atLeast int) {
	if bw.err != nil || kind != 'E' && (len(bw.buf) == 0 || len(bw.buf) < atLeast) {
		return
	}
	head := binary.AppendUvarint([]byte{kind}, uint64(len(bw.buf)))
	crc := crc32.Update(crc32.Update(0, castagnoli, head[:1]), castagnoli, bw.buf)
	bw.buf = binary.LittleEndian.AppendUint32(bw.buf, crc)
	if _, err := bw.w.Write(head); err != nil {
		bw.err = err
	} else if _, err := bw.w.Write(bw.buf); err != nil {
		bw.err = err
	}
	bw.buf = bw.buf[:0]
}

// writeAtomic writes what fill writes to name through a temporary file,
// synced and renamed, and syncs the directory; n is the bytes written.
func writeAtomic(name string, fill func(io.Writer) error) (n int64, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // after the rename it is gone: an error ignored
	cw := &countingWriter{w: tmp}
	bw := bufio.NewWriterSize(cw, 256<<10)
	err = tmp.Chmod(0o600)
	if err == nil {
		err = fill(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		return cw.n, err
	}
	if d, err := os.Open(filepath.Dir(name)); err == nil { // the rename itself survives a crash
		_ = d.Sync()
		d.Close()
	}
	return cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// load reads o.File, streaming. A missing file is an empty state; a file
// that cannot be opened is an error; a damaged one (cut short, a bad
// checksum, not a state file) is logged, naming the file, and the store
// starts with what was read before the damage: greylisting state lost
// only means that some senders are greylisted again.
func (m *Memory) load() error {
	f, err := os.Open(m.o.File)
	if errors.Is(err, fs.ErrNotExist) {
		m.savedChanges = ^uint64(0) // create the file at the first save
		return nil
	}
	if err != nil {
		return fmt.Errorf("greylist state file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil { // no rehashing while loading: a record takes 24 bytes or more
		m.st.trip.index = make(map[memKey]int32, min(fi.Size()/24, int64(m.st.maxTriplets)))
	}
	r := bufio.NewReaderSize(f, 64<<10)
	l := &loader{m: m, now: m.nowMS()}
	format := 2
	if head, _ := r.Peek(len(memMagic)); string(head) == memMagic {
		err = l.readBlocks(r)
	} else {
		format = 1
		err = l.readJSON(r)
	}
	l.finish()
	m.savedChanges = m.st.changes
	if err != nil || format != 2 {
		m.savedChanges = ^uint64(0) // rewrite it, whole and in the current format
	}
	if err != nil {
		m.o.Logger.Error("greylist state file damaged: starting with the entries read before the damage",
			"file", m.o.File, "err", err, "triplets", m.st.trip.len(), "awl", m.st.awl.len(), "whitelist", len(m.st.wl))
	} else {
		m.o.Logger.Debug("greylist state file loaded", "file", m.o.File, "format", format,
			"triplets", m.st.trip.len(), "awl", m.st.awl.len(), "whitelist", len(m.st.wl))
	}
	return nil
}

// loader fills a new store's slabs; the lists are built at the end, in
// the order the entries' times give (a save walks slots, not lists).
type loader struct {
	m   *Memory
	now int64
	off int64 // bytes read, for error messages
}

func (l *loader) triplet(k memKey, v tripletVal) {
	if v.first == 0 || l.now >= v.exp {
		return
	}
	s := &l.m.st.trip
	if i, ok := s.find(k); ok {
		s.at(i).val = v
		return
	}
	s.insert(k, v)
}

func (l *loader) awl(k memKey, v awlVal) {
	if v.n <= 0 || l.now >= v.exp {
		return
	}
	s := &l.m.st.awl
	if i, ok := s.find(k); ok {
		s.at(i).val = v
		return
	}
	s.insert(k, v)
}

func (l *loader) whitelist(kind, value string, expires int64) {
	v, err := normalizeWhitelistValue(kind, value)
	if err == nil && (expires == 0 || l.now/1000 < expires) {
		l.m.st.wl[wlKey{kind, v}] = expires
	}
}

// finish threads the loaded entries on their lists: waiting triplets by
// first sight, passed ones and counters by expiry, which is their last
// use plus a TTL; then trims to the caps, oldest first.
func (l *loader) finish() {
	st := &l.m.st
	var waiting, passed []int32
	for i := range st.trip.used {
		if st.trip.live(i) {
			if st.trip.at(i).val.pass != 0 {
				passed = append(passed, i)
			} else {
				waiting = append(waiting, i)
			}
		}
	}
	byTime := func(s *slab[tripletVal], f func(tripletVal) int64) func(a, b int32) int {
		return func(a, b int32) int { return cmp.Compare(f(s.at(a).val), f(s.at(b).val)) }
	}
	slices.SortFunc(waiting, byTime(&st.trip, func(v tripletVal) int64 { return v.first }))
	slices.SortFunc(passed, byTime(&st.trip, func(v tripletVal) int64 { return v.exp }))
	for _, i := range waiting {
		st.trip.pushBack(&st.waiting, i)
	}
	for _, i := range passed {
		st.trip.pushBack(&st.passed, i)
	}
	var awl []int32
	for i := range st.awl.used {
		if st.awl.live(i) {
			awl = append(awl, i)
		}
	}
	slices.SortFunc(awl, func(a, b int32) int { return cmp.Compare(st.awl.at(a).val.exp, st.awl.at(b).val.exp) })
	for _, i := range awl {
		st.awl.pushBack(&st.awlLRU, i)
	}
	for l.m.trim() {
	}
}

// readBlocks reads format 2 up to its end block.
func (l *loader) readBlocks(r *bufio.Reader) error {
	if _, err := r.Discard(len(memMagic)); err != nil {
		return err
	}
	l.off = int64(len(memMagic))
	var payload []byte
	for {
		at := l.off
		kind, size, err := l.blockHead(r)
		if err != nil {
			return err
		}
		payload = slices.Grow(payload[:0], size+4)[:size+4]
		if _, err := io.ReadFull(r, payload); err != nil {
			return fmt.Errorf("block at byte %d: cut short (%v)", at, err)
		}
		l.off += int64(size + 4)
		body := payload[:size]
		crc := crc32.Update(crc32.Update(0, castagnoli, []byte{kind}), castagnoli, body)
		if crc != binary.LittleEndian.Uint32(payload[size:]) {
			return fmt.Errorf("block at byte %d: bad checksum", at)
		}
		if kind == 'E' {
			return nil
		}
		if err := l.records(kind, body); err != nil {
			return fmt.Errorf("block at byte %d: %w", at, err)
		}
	}
}

func (l *loader) blockHead(r *bufio.Reader) (kind byte, size int, err error) {
	kind, err = r.ReadByte()
	if err == io.EOF {
		return 0, 0, fmt.Errorf("cut short at byte %d: no end block", l.off)
	}
	if err != nil {
		return 0, 0, err
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, 0, fmt.Errorf("block at byte %d: cut short (%v)", l.off, err)
	}
	if n > blockMaxBytes {
		return 0, 0, fmt.Errorf("block at byte %d: length %d over %d", l.off, n, blockMaxBytes)
	}
	l.off += 1 + int64(uvarintLen(n))
	return kind, int(n), nil
}

func uvarintLen(n uint64) int { return len(binary.AppendUvarint(nil, n)) }

// records reads one block's records.
func (l *loader) records(kind byte, b []byte) error {
	d := &recDecoder{b: b}
	for len(d.b) > 0 && d.err == nil {
		switch kind {
		case 'T':
			k, flags := d.key(), d.byte()
			v := tripletVal{first: d.varint()}
			if flags&1 != 0 {
				v.pass = v.first + d.varint()
			}
			v.exp = v.first + d.varint()
			if d.err == nil {
				l.triplet(k, v)
			}
		case 'A':
			k, n, exp := d.key(), d.uvarint(), d.varint()
			if d.err == nil && n <= 1<<31-1 {
				l.awl(k, awlVal{n: int32(n), exp: exp})
			}
		case 'W':
			kind, n := d.byte(), d.uvarint()
			value, exp := d.bytes(n), d.varint()
			switch {
			case d.err != nil:
			case kind == 'n':
				l.whitelist(KindNetwork, string(value), exp)
			case kind == 'd':
				l.whitelist(KindDomain, string(value), exp)
			}
		default:
			return fmt.Errorf("unknown block kind %q", kind)
		}
	}
	return d.err
}

// recDecoder reads fields from a block; the first error sticks.
type recDecoder struct {
	b   []byte
	err error
}

var errRecord = errors.New("record cut short")

func (d *recDecoder) bytes(n uint64) []byte {
	if d.err != nil || n > uint64(len(d.b)) || n > wlValueMax {
		d.err = cmp.Or(d.err, errRecord)
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *recDecoder) key() (k memKey) {
	copy(k[:], d.bytes(16))
	return k
}

func (d *recDecoder) byte() byte {
	if b := d.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *recDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = cmp.Or(d.err, errRecord)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = cmp.Or(d.err, errRecord)
		return 0
	}
	d.b = d.b[n:]
	return v
}
