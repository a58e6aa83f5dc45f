package history

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for the stores' Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rec is a record for tests: a transaction from client with one recipient.
func rec(t time.Time, client, sender, tls string, rcpts ...Recipient) Record {
	return Record{Time: t, QueueID: fmt.Sprintf("Q%d", t.UnixNano()), Client: client, Helo: "mx." + client,
		Sender: sender, TLSVersion: tls, Recipients: rcpts}
}

func accepted(addr string) Recipient { return Recipient{Addr: addr, Rule: "spamgate.toml:12"} }

func refused(addr, check, reply string) Recipient {
	return Recipient{Addr: addr, Check: check, Reply: reply, Reason: "test"}
}

// syncer is both stores' Sync.
type syncer interface {
	Store
	Sync()
}

func mustQuery(t *testing.T, s Store, f Filter) []Record {
	t.Helper()
	out, err := s.Query(t.Context(), f)
	if err != nil {
		t.Fatalf("Query(%+v): %v", f, err)
	}
	return out
}

func queueIDs(rs []Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.QueueID
	}
	return out
}
