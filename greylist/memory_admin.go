package greylist

import (
	"cmp"
	"context"
	"slices"
)

// AddWhitelist adds or replaces an entry.
func (m *Memory) AddWhitelist(ctx context.Context, w WhitelistEntry) error {
	if err := ctx.Err(); err != nil {
		return storeErr("add whitelist entry", err)
	}
	w, err := normalizeWhitelist(w)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st.wl[wlKey{w.Kind, w.Value}] = unixOrZero(w.Expires)
	m.st.changes++
	return nil
}

// RemoveWhitelist removes an entry; removing a missing one is no error.
func (m *Memory) RemoveWhitelist(ctx context.Context, kind, value string) error {
	if err := ctx.Err(); err != nil {
		return storeErr("remove whitelist entry", err)
	}
	v, err := normalizeWhitelistValue(kind, value)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.st.wl, wlKey{kind, v})
	m.st.changes++
	return nil
}

// Whitelist lists the entries not expired, sorted by kind and value.
func (m *Memory) Whitelist(ctx context.Context) ([]WhitelistEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, storeErr("list whitelist", err)
	}
	now := m.o.Now()
	m.mu.Lock()
	var out []WhitelistEntry
	for k, exp := range m.st.wl {
		w := WhitelistEntry{Kind: k.kind, Value: k.value, Expires: timeOrZero(exp)}
		if !w.expiredAt(now) {
			out = append(out, w)
		}
	}
	m.mu.Unlock()
	sortWhitelist(out)
	return out, nil
}

func sortWhitelist(ws []WhitelistEntry) {
	slices.SortFunc(ws, func(a, b WhitelistEntry) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Value, b.Value))
	})
}

// Counts counts the live entries, a chunk of slots at a time.
func (m *Memory) Counts(ctx context.Context) (Counts, error) {
	if err := ctx.Err(); err != nil {
		return Counts{}, storeErr("counts", err)
	}
	var c Counts
	for start := int32(0); m.countTriplets(start, &c); start += slabChunk {
	}
	for start := int32(0); m.countAWL(start, &c); start += slabChunk {
	}
	now := m.nowMS()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, exp := range m.st.wl {
		if exp == 0 || now/1000 < exp {
			c.Whitelist++
		}
	}
	return c, nil
}

// countTriplets counts the chunk of slots from start; false past the end.
func (m *Memory) countTriplets(start int32, c *Counts) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &m.st.trip
	if start >= s.used {
		return false
	}
	now := m.nowMS()
	for i := start; i < min(start+slabChunk, s.used); i++ {
		switch t := s.at(i).val; {
		case !s.live(i) || now >= t.exp:
		case t.pass != 0:
			c.Passed++
		default:
			c.Waiting++
		}
	}
	return true
}

func (m *Memory) countAWL(start int32, c *Counts) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &m.st.awl
	if start >= s.used {
		return false
	}
	now := m.nowMS()
	for i := start; i < min(start+slabChunk, s.used); i++ {
		if s.live(i) && now < s.at(i).val.exp {
			c.AWLClients++
		}
	}
	return true
}
