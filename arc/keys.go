package arc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"spamgate/dkim"
)

// keyFuture is one key record lookup, started by Prefetch or by the first
// signature that needs it; done closes when rec/err are set.
type keyFuture struct {
	done chan struct{}
	rec  *dkim.KeyRecord
	err  error
}

// Prefetch starts, concurrently, the key lookups the chain will need, in
// the order verification asks for them (AMS(N), AS(N)…AS(1), the older
// AMSs), up to Options.MaxLookups distinct names, so that end of message
// waits for one round trip instead of one per hop. Call it after
// EndHeaders; ctx bounds the lookups. Without a chain it does nothing.
func (m *Message) Prefetch(ctx context.Context) {
	if len(m.sets) == 0 || m.structErr != nil {
		return
	}
	n := len(m.sets)
	order := []map[string]string{m.sets[n-1].amsTags}
	for i := n - 1; i >= 0; i-- {
		order = append(order, m.sets[i].asTags)
	}
	for i := n - 2; i >= 0; i-- {
		order = append(order, m.sets[i].amsTags)
	}
	for _, t := range order {
		d, sel := strings.TrimSpace(t["d"]), strings.TrimSpace(t["s"])
		if d == "" || sel == "" {
			continue
		}
		name := strings.ToLower(sel + "._domainkey." + d)
		if _, ok := m.keys[name]; ok {
			continue
		}
		if len(m.keys) >= m.opt.MaxLookups {
			return
		}
		f := m.newKey(name)
		go m.fetch(ctx, name, f)
	}
}

func (m *Message) newKey(name string) *keyFuture {
	if m.keys == nil {
		m.keys = map[string]*keyFuture{}
	}
	f := &keyFuture{done: make(chan struct{})}
	m.keys[name] = f
	return f
}

// key returns the key record at sel._domainkey.d: fetched once per
// message, at most MaxLookups distinct names.
func (m *Message) key(ctx context.Context, sel, d string) (*dkim.KeyRecord, error) {
	name := strings.ToLower(sel + "._domainkey." + d)
	f, ok := m.keys[name]
	if !ok {
		if len(m.keys) >= m.opt.MaxLookups {
			return nil, fmt.Errorf("over %d key lookups for one message", m.opt.MaxLookups)
		}
		f = m.newKey(name)
		m.fetch(ctx, name, f)
	}
	select {
	case <-f.done:
		return f.rec, f.err
	case <-ctx.Done():
		return nil, errTemporary{fmt.Errorf("key lookup %s: %w", name, ctx.Err())}
	}
}

// fetch looks the key up and parses it. NXDOMAIN, no record, several
// records, or a bad record fail the signature for good; anything else is
// temporary (the chain fails, marked Temporary).
func (m *Message) fetch(ctx context.Context, name string, f *keyFuture) {
	defer close(f.done)
	txts, err := m.lookup(ctx, name)
	switch {
	case err != nil:
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			f.err = fmt.Errorf("no key at %s", name)
		} else {
			f.err = errTemporary{fmt.Errorf("key lookup %s: %v", name, err)}
		}
	case len(txts) != 1:
		f.err = fmt.Errorf("%d key records at %s, want 1", len(txts), name)
	default:
		f.rec, f.err = dkim.ParseKeyRecord(txts[0])
		if f.err != nil {
			f.err = fmt.Errorf("key %s: %w", name, f.err)
		}
	}
}
