package greylist

import (
	"container/list"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults of MemoryOptions.
const (
	DefaultSaveInterval = time.Minute
	DefaultMaxTriplets  = 1_000_000
)

// MemoryOptions configure the in-process store.
type MemoryOptions struct {
	// File, when set, keeps the state across restarts: loaded by NewMemory
	// (a missing file is an empty state), saved every SaveInterval and by
	// Close.
	File         string
	SaveInterval time.Duration // also the period of the expiry sweep
	// MaxTriplets bounds memory: beyond it, the least recently used
	// triplets are dropped (they are greylisted again if they come back).
	MaxTriplets int
	Now         func() time.Time // default time.Now; for tests
	Logger      *slog.Logger     // for failed periodic saves; default slog.Default()
}

// Memory is the embedded store: maps under a mutex, for one MX host. It
// decides as the Redis store does for the same sequence of checks.
type Memory struct {
	o    MemoryOptions
	mu   sync.Mutex
	st   memState
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type memState struct {
	triplets map[string]*memTriplet // by hashed client and hashed pair
	lru      *list.List             // of triplet map keys, least recently used first
	awl      map[string]*memAWL     // by hashed client
	wl       map[wlKey]int64        // expiry in Unix seconds, 0 = never
}

// memTriplet times are Unix milliseconds, as in the Redis store.
type memTriplet struct {
	first, pass, exp int64
	elem             *list.Element
}

type memAWL struct {
	n   int
	exp int64
}

type wlKey struct{ kind, value string }

var _ Store = (*Memory)(nil)

// NewMemory opens the store, loading o.File if set, and starts the
// goroutine that sweeps expired entries and saves; Close stops it.
func NewMemory(o MemoryOptions) (*Memory, error) {
	if o.SaveInterval <= 0 {
		o.SaveInterval = DefaultSaveInterval
	}
	if o.MaxTriplets <= 0 {
		o.MaxTriplets = DefaultMaxTriplets
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	m := &Memory{o: o, st: newMemState(), stop: make(chan struct{}), done: make(chan struct{})}
	if o.File != "" {
		if err := m.load(); err != nil {
			return nil, err
		}
	}
	go m.loop()
	return m, nil
}

func newMemState() memState {
	return memState{
		triplets: map[string]*memTriplet{},
		lru:      list.New(),
		awl:      map[string]*memAWL{},
		wl:       map[wlKey]int64{},
	}
}

func (m *Memory) nowMS() int64 { return m.o.Now().UnixMilli() }

// loop sweeps and saves until Close.
func (m *Memory) loop() {
	defer close(m.done)
	t := time.NewTicker(m.o.SaveInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep()
			if err := m.save(); err != nil {
				m.o.Logger.Warn("greylist: periodic save failed", "err", err)
			}
		}
	}
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

// sweep drops expired entries, so that the maps do not grow with
// triplets that never come back.
func (m *Memory) sweep() {
	now := m.nowMS()
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, t := range m.st.triplets {
		if now >= t.exp {
			m.dropTriplet(k, t)
		}
	}
	for k, a := range m.st.awl {
		if now >= a.exp {
			delete(m.st.awl, k)
		}
	}
	nowS := now / 1000
	for k, exp := range m.st.wl {
		if exp != 0 && nowS >= exp {
			delete(m.st.wl, k)
		}
	}
}

// dropTriplet removes a triplet; m.mu is held.
func (m *Memory) dropTriplet(k string, t *memTriplet) {
	m.st.lru.Remove(t.elem)
	delete(m.st.triplets, k)
}

// addTriplet inserts or refreshes a triplet as the most recently used,
// evicting the least recently used beyond MaxTriplets; m.mu is held.
func (m *Memory) addTriplet(k string, t *memTriplet) {
	if old, ok := m.st.triplets[k]; ok {
		m.dropTriplet(k, old)
	}
	t.elem = m.st.lru.PushBack(k)
	m.st.triplets[k] = t
	for m.st.lru.Len() > m.o.MaxTriplets {
		front := m.st.lru.Front()
		fk := front.Value.(string)
		m.dropTriplet(fk, m.st.triplets[fk])
	}
}

// liveTriplet is the triplet under k unless it is missing or expired;
// m.mu is held.
func (m *Memory) liveTriplet(k string, now int64) *memTriplet {
	t, ok := m.st.triplets[k]
	if !ok || now >= t.exp {
		return nil
	}
	return t
}

// liveAWL is the pass count of a client key, 0 if missing or expired;
// m.mu is held.
func (m *Memory) liveAWL(k string, now int64) *memAWL {
	a, ok := m.st.awl[k]
	if !ok || now >= a.exp {
		return nil
	}
	return a
}

func tripletKey(k Key) (client, triplet string) {
	c, pair := k.hashes()
	return c, c + ":" + pair
}

func storeErr(what string, err error) error {
	return fmt.Errorf("greylist memory store: %s: %w", what, err)
}
