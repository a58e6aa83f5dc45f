package mtasts

import (
	"context"
	"sync"
)

// flight runs at most one fetch per domain at a time: concurrent lookups that need the
// same policy share it.
type flight struct {
	mu    sync.Mutex
	calls map[string]*call
}

// call is one fetch; done closes when policy and err are set.
type call struct {
	done   chan struct{}
	policy *Policy
	err    error
}

// do starts fn for key in its own goroutine unless one runs already, and returns the
// call to wait on and whether it started it. A new call starts only if start (called
// under the flight's lock) agrees; if not, do returns nil. fn runs to its end even if
// every waiter gives up, so that its result still reaches the cache.
func (f *flight) do(key string, start func() bool, fn func() (*Policy, error)) (*call, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.calls[key]; c != nil {
		return c, false
	}
	if !start() {
		return nil, false
	}
	if f.calls == nil {
		f.calls = map[string]*call{}
	}
	c := &call{done: make(chan struct{})}
	f.calls[key] = c
	go func() {
		c.policy, c.err = fn()
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		close(c.done)
	}()
	return c, true
}

// wait returns the call's result, or ctx's error if ctx ends first.
func (c *call) wait(ctx context.Context) (*Policy, error) {
	select {
	case <-c.done:
		if c.err != nil {
			return nil, c.err
		}
		return c.policy.clone(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
