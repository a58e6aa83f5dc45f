package greylist

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of MemoryOptions.
const (
	DefaultSaveInterval  = 5 * time.Minute
	DefaultSweepInterval = time.Minute
	DefaultMaxTriplets   = 1_000_000
	DefaultMaxAWL        = 100_000
)

// sweepBatch is the slots a sweep looks at, or the entries a trim evicts,
// per hold of the lock: each removal touches the map at random, a cache
// miss, so this bounds a hold to a fraction of a millisecond.
const sweepBatch = 1024

// MemoryOptions configure the in-process store.
type MemoryOptions struct {
	// File, when set, keeps the state across restarts: loaded by NewMemory
	// (a missing file is an empty state, a damaged one is read up to the
	// damage), saved every SaveInterval when it changed, and by Close.
	File          string
	SaveInterval  time.Duration
	SweepInterval time.Duration // of the sweep of expired entries
	// MaxTriplets bounds the triplets: beyond it, the oldest waiting
	// (never passed) triplet is dropped, and only when none waits, the
	// least recently used passed one. A dropped triplet is greylisted
	// again if it comes back.
	MaxTriplets int
	// MaxAWL bounds the auto-whitelist counters (one per client key);
	// beyond it the least recently used is dropped.
	MaxAWL int
	Now    func() time.Time // default time.Now; for tests
	Logger *slog.Logger     // for failed saves, a damaged file, evictions; default slog.Default()
}

func (o MemoryOptions) withDefaults() MemoryOptions {
	if o.SaveInterval <= 0 {
		o.SaveInterval = DefaultSaveInterval
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = min(DefaultSweepInterval, o.SaveInterval)
	}
	if o.MaxTriplets <= 0 {
		o.MaxTriplets = DefaultMaxTriplets
	}
	if o.MaxAWL <= 0 {
		o.MaxAWL = DefaultMaxAWL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Memory is the embedded store, for one MX host. It decides as the Redis
// store does for the same sequence of checks. Its state is two slabs
// (memory_slab.go) under one mutex; the sweep and the save take the
// mutex for one chunk of slots at a time.
type Memory struct {
	o    MemoryOptions
	mu   sync.Mutex
	st   memState
	stop chan struct{}
	done chan struct{}
	once sync.Once

	// savedChanges is st.changes when the file was last written (only the
	// goroutine that saves touches it).
	savedChanges uint64
	saveMu       sync.Mutex
	// betweenBatches, when set (by tests), runs between two batches of a
	// sweep or a save.
	betweenBatches func()
	waiters        atomic.Int32 // Checks waiting for mu (lockForCheck)
}

type memState struct {
	trip    slab[tripletVal]
	waiting order // never-passed triplets, first seen first
	passed  order // passed triplets, least recently used first
	awl     slab[awlVal]
	awlLRU  order           // least recently used first
	wl      map[wlKey]int64 // expiry in Unix seconds, 0 = never
	// maxTriplets and maxAWL are the caps in force (SetLimits).
	maxTriplets, maxAWL int
	changes             uint64 // counts writes, so that an unchanged state is not saved again
	stats               MemoryStats
}

// tripletVal times are Unix milliseconds, as in the Redis store.
type tripletVal struct{ first, pass, exp int64 }

type awlVal struct {
	exp int64
	n   int32
}

type wlKey struct{ kind, value string }

// MemoryStats are the store's counters, for logs and metrics.
type MemoryStats struct {
	Triplets, AWL int // entries held, expired ones not swept yet included
	// Evicted entries, by what was evicted, since the store was opened.
	EvictedWaiting, EvictedPassed, EvictedAWL uint64
	Saves                                     uint64
	LastSaveBytes                             int64
	LastSaveDuration                          time.Duration
	// The longest a batch of a sweep or of a save held the lock: what a
	// Check may have waited for them.
	MaxSweepHold, MaxSaveHold time.Duration
}

var _ Store = (*Memory)(nil)

// NewMemory opens the store, loading o.File if set, and starts the
// goroutine that sweeps expired entries and saves; Close stops it. Only a
// file that cannot be opened is an error: a damaged one is logged and
// read up to the damage.
func NewMemory(o MemoryOptions) (*Memory, error) {
	o = o.withDefaults()
	m := &Memory{o: o, st: newMemState(o), stop: make(chan struct{}), done: make(chan struct{})}
	if o.File != "" {
		if err := m.load(); err != nil {
			return nil, err
		}
	}
	go m.loop()
	return m, nil
}

func newMemState(o MemoryOptions) memState {
	return memState{
		trip:        newSlab[tripletVal](),
		waiting:     newOrder(),
		passed:      newOrder(),
		awl:         newSlab[awlVal](),
		awlLRU:      newOrder(),
		wl:          map[wlKey]int64{},
		maxTriplets: o.MaxTriplets,
		maxAWL:      o.MaxAWL,
	}
}

// SetLimits changes the caps of a running store (a reload); a store over
// a lowered cap shrinks at the next sweep.
func (m *Memory) SetLimits(maxTriplets, maxAWL int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if maxTriplets > 0 {
		m.st.maxTriplets = maxTriplets
	}
	if maxAWL > 0 {
		m.st.maxAWL = maxAWL
	}
}

// Stats are the store's counters now.
func (m *Memory) Stats() MemoryStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.st.stats
	s.Triplets, s.AWL = m.st.trip.len(), m.st.awl.len()
	return s
}

func (m *Memory) nowMS() int64 { return m.o.Now().UnixMilli() }

// loop sweeps and saves until Close.
func (m *Memory) loop() {
	defer close(m.done)
	sweep := time.NewTicker(m.o.SweepInterval)
	defer sweep.Stop()
	save := time.NewTicker(m.o.SaveInterval)
	defer save.Stop()
	var logged MemoryStats
	for {
		select {
		case <-m.stop:
			return
		case <-sweep.C:
			m.sweep()
			logged = m.logEvictions(logged)
		case <-save.C:
			if err := m.save(); err != nil {
				m.o.Logger.Warn("greylist: periodic save failed", "err", err)
			}
		}
	}
}

// logEvictions logs what the caps evicted since the last call: a flood
// of new triplets evicts waiting ones (expected), evicted passed triplets
// or auto-whitelist counters mean a cap is too small for the traffic.
func (m *Memory) logEvictions(last MemoryStats) MemoryStats {
	s := m.Stats()
	w, p, a := s.EvictedWaiting-last.EvictedWaiting, s.EvictedPassed-last.EvictedPassed, s.EvictedAWL-last.EvictedAWL
	switch {
	case p > 0 || a > 0:
		m.o.Logger.Warn("greylist memory store full: evicted passed triplets or auto-whitelist counters; raise [greylist] max_entries or max_whitelist",
			"evicted_waiting", w, "evicted_passed", p, "evicted_awl", a, "triplets", s.Triplets, "awl", s.AWL)
	case w > 0:
		m.o.Logger.Info("greylist memory store full: evicted the oldest waiting triplets",
			"evicted_waiting", w, "triplets", s.Triplets)
	}
	return s
}

// Close stops the sweeper and saves the state a last time.
func (m *Memory) Close() error {
	var err error
	m.once.Do(func() {
		close(m.stop)
		<-m.done
		err = m.save()
	})
	return err
}

// Ping always succeeds: the state is in this process.
func (m *Memory) Ping(ctx context.Context) error { return ctx.Err() }

// sweep drops expired entries, so that the slabs do not hold triplets
// that never come back, and trims the store to lowered caps. It holds
// the lock for one chunk of slots at a time: a Check waits for at most
// one chunk.
func (m *Memory) sweep() {
	for start := int32(0); m.sweepTriplets(start); start += sweepBatch {
		m.yield()
	}
	for start := int32(0); m.sweepAWL(start); start += sweepBatch {
		m.yield()
	}
	m.sweepWhitelist()
	for m.trim() {
		m.yield()
	}
}

// yield runs between two batches of a sweep or a save, the lock
// released. Go's mutex lets the goroutine that just unlocked take it
// again before a woken waiter runs, so a Check could wait for several
// batches: while one waits, yield lets it go first (for at most 1 ms).
func (m *Memory) yield() {
	if m.betweenBatches != nil {
		m.betweenBatches()
	}
	runtime.Gosched()
	for deadline := time.Now().Add(time.Millisecond); m.waiters.Load() > 0 && time.Now().Before(deadline); {
		runtime.Gosched()
	}
}

// lockForCheck takes the lock for a store call on the mail path, counted
// as waiting until it has it, so that a sweep or a save lets it go first.
func (m *Memory) lockForCheck() {
	m.waiters.Add(1)
	m.mu.Lock()
	m.waiters.Add(-1)
}

// sweepWhitelist drops expired admin entries: few, so in one go.
func (m *Memory) sweepWhitelist() {
	m.mu.Lock()
	defer m.mu.Unlock()
	nowS := m.nowMS() / 1000
	for k, exp := range m.st.wl {
		if exp != 0 && nowS >= exp {
			delete(m.st.wl, k)
			m.st.changes++
		}
	}
}

// trim evicts at most one chunk's worth of entries beyond lowered caps;
// true while more remain.
func (m *Memory) trim() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	defer held(&m.st.stats.MaxSweepHold, time.Now())
	for range sweepBatch {
		switch {
		case m.st.trip.len() > m.st.maxTriplets:
			m.evictTriplet()
		case m.st.awl.len() > m.st.maxAWL:
			m.evictAWL()
		default:
			return false
		}
	}
	return true
}

// held records how long the lock was held since t0 in *max; m.mu is held.
func held(max *time.Duration, t0 time.Time) {
	if d := time.Since(t0); d > *max {
		*max = d
	}
}

// sweepTriplets sweeps the batch of slots from start; false past the end.
func (m *Memory) sweepTriplets(start int32) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	defer held(&m.st.stats.MaxSweepHold, time.Now())
	s := &m.st.trip
	if start >= s.used {
		return false
	}
	now := m.nowMS()
	for i := start; i < min(start+sweepBatch, s.used); i++ {
		if s.live(i) && now >= s.at(i).val.exp {
			m.dropTriplet(i)
		}
	}
	return true
}

func (m *Memory) sweepAWL(start int32) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	defer held(&m.st.stats.MaxSweepHold, time.Now())
	s := &m.st.awl
	if start >= s.used {
		return false
	}
	now := m.nowMS()
	for i := start; i < min(start+sweepBatch, s.used); i++ {
		if s.live(i) && now >= s.at(i).val.exp {
			s.unlink(&m.st.awlLRU, i)
			s.remove(i)
			m.st.changes++
		}
	}
	return true
}

// tripletOrder is the list a triplet is on: passed or waiting.
func (m *Memory) tripletOrder(v tripletVal) *order {
	if v.pass != 0 {
		return &m.st.passed
	}
	return &m.st.waiting
}

// dropTriplet removes the triplet in slot i; m.mu is held.
func (m *Memory) dropTriplet(i int32) {
	s := &m.st.trip
	s.unlink(m.tripletOrder(s.at(i).val), i)
	s.remove(i)
	m.st.changes++
}

// evictTriplet drops the oldest waiting triplet or, when none waits, the
// least recently used passed one: a flood of new triplets (a botnet
// trying once each) only pushes out its own kind; m.mu is held.
func (m *Memory) evictTriplet() {
	if i := m.st.waiting.head; i != noSlot {
		m.st.stats.EvictedWaiting++
		m.dropTriplet(i)
		return
	}
	if i := m.st.passed.head; i != noSlot {
		m.st.stats.EvictedPassed++
		m.dropTriplet(i)
	}
}

func (m *Memory) evictAWL() {
	i := m.st.awlLRU.head
	if i == noSlot {
		return
	}
	m.st.stats.EvictedAWL++
	m.st.awl.unlink(&m.st.awlLRU, i)
	m.st.awl.remove(i)
	m.st.changes++
}

// putTriplet stores v under k, new or replacing, as the most recent of
// its list, evicting beyond the cap; m.mu is held.
func (m *Memory) putTriplet(k memKey, v tripletVal) {
	if i, ok := m.st.trip.find(k); ok {
		m.setTriplet(i, v)
		return
	}
	m.st.changes++
	s := &m.st.trip
	if s.len() >= m.st.maxTriplets { // one out, one in: a lowered cap is reached by the sweep
		m.evictTriplet()
	}
	s.pushBack(m.tripletOrder(v), s.insert(k, v))
}

// setTriplet replaces the triplet in slot i, as the most recent of its
// list; m.mu is held.
func (m *Memory) setTriplet(i int32, v tripletVal) {
	m.st.changes++
	s := &m.st.trip
	sl := s.at(i)
	s.unlink(m.tripletOrder(sl.val), i)
	sl.val = v
	s.pushBack(m.tripletOrder(v), i)
}

// liveTriplet is the slot of the triplet under k, noSlot if it is
// missing or expired; m.mu is held.
func (m *Memory) liveTriplet(k memKey, now int64) int32 {
	i, ok := m.st.trip.find(k)
	if !ok || now >= m.st.trip.at(i).val.exp {
		return noSlot
	}
	return i
}

// liveAWL is the slot of the counter of a client key, noSlot if missing
// or expired; m.mu is held.
func (m *Memory) liveAWL(k memKey, now int64) int32 {
	i, ok := m.st.awl.find(k)
	if !ok || now >= m.st.awl.at(i).val.exp {
		return noSlot
	}
	return i
}

// putAWL stores v under k, new or replacing, as the most recently used,
// evicting beyond the cap; m.mu is held.
func (m *Memory) putAWL(k memKey, v awlVal) {
	m.st.changes++
	s := &m.st.awl
	if i, ok := s.find(k); ok {
		s.at(i).val = v
		s.moveToBack(&m.st.awlLRU, i)
		return
	}
	if s.len() >= m.st.maxAWL {
		m.evictAWL()
	}
	s.pushBack(&m.st.awlLRU, s.insert(k, v))
}

func storeErr(what string, err error) error {
	return fmt.Errorf("greylist memory store: %s: %w", what, err)
}
