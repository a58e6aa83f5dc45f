package greylist

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newMemory(t *testing.T, o MemoryOptions) *Memory {
	t.Helper()
	m, err := NewMemory(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// TestMemoryPersistence saves, reopens and finds the same state.
func TestMemoryPersistence(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	file := filepath.Join(t.TempDir(), "greylist.json")
	m := newMemory(t, MemoryOptions{File: file, Now: clk.Now})
	p := suiteParams
	k1, k2 := key(1), key(2)
	mustCheck(t, m, k1, ReasonNew)
	clk.Advance(p.Delay)
	mustCheck(t, m, k1, ReasonPass)
	mustCheck(t, m, k2, ReasonNew)
	if err := m.AddWhitelist(ctx, WhitelistEntry{Kind: KindDomain, Value: "example.net"}); err != nil {
		t.Fatal(err)
	}
	want1, _ := m.Status(ctx, k1)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(file)
	for _, clear := range []string{"sender1", "example.com", "192.0.2"} {
		if strings.Contains(string(b), clear) {
			t.Errorf("state file holds %q in clear", clear)
		}
	}

	m2 := newMemory(t, MemoryOptions{File: file, Now: clk.Now})
	if got, _ := m2.Status(ctx, k1); !entryEqual(got, want1) {
		t.Errorf("Status after reopening = %+v, want %+v", got, want1)
	}
	mustCheck(t, m2, k1, ReasonPass)
	mustCheck(t, m2, k2, ReasonEarly)
	listEqual(t, m2, []WhitelistEntry{{Kind: KindDomain, Value: "example.net"}})
}

func mustCheck(t *testing.T, s Store, k Key, reason string) {
	t.Helper()
	d, err := s.Check(context.Background(), k, suiteParams)
	if err != nil || d.Reason != reason {
		t.Fatalf("Check(%v) = %+v, %v; want %s", k, d, err, reason)
	}
}

// TestMemoryBounds checks the sweep of expired entries and the eviction
// of the oldest waiting triplets beyond MaxTriplets.
func TestMemoryBounds(t *testing.T) {
	clk := newClock()
	m := newMemory(t, MemoryOptions{Now: clk.Now, MaxTriplets: 3})
	for i := 1; i <= 3; i++ {
		mustCheck(t, m, key(i), ReasonNew)
	}
	mustCheck(t, m, key(1), ReasonEarly) // not a use: key(1) stays the oldest
	mustCheck(t, m, key(4), ReasonNew)   // evicts key(1)
	if n := m.st.trip.len(); n != 3 {
		t.Errorf("%d triplets, want 3", n)
	}
	mustCheck(t, m, key(1), ReasonNew) // evicted: new again, evicts key(2)
	mustCheck(t, m, key(3), ReasonEarly)

	clk.Advance(suiteParams.RetryWindow)
	m.sweep()
	st := &m.st
	if n, a := st.trip.len(), st.awl.len(); n != 0 || a != 0 || st.waiting.n+st.passed.n+st.awlLRU.n != 0 {
		t.Errorf("after the sweep: %d triplets, %d AWL, %d+%d+%d on lists; want none", n, a, st.waiting.n, st.passed.n, st.awlLRU.n)
	}
}

// TestMemorySaveInterval checks the periodic save, and that an unchanged
// state is not written again.
func TestMemorySaveInterval(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gl.state")
	m := newMemory(t, MemoryOptions{File: file, SaveInterval: 20 * time.Millisecond})
	mustCheck(t, m, key(1), ReasonNew)
	deadline := time.Now().Add(5 * time.Second)
	for m.Stats().Saves == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no periodic save within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b, err := os.ReadFile(file); err != nil || !strings.HasPrefix(string(b), memMagic) {
		t.Fatalf("state file: %q, %v", b, err)
	}
	time.Sleep(100 * time.Millisecond) // five more intervals, nothing changed
	if n := m.Stats().Saves; n != 1 {
		t.Errorf("%d saves of an unchanged state, want 1", n)
	}
}

func TestCheckerWhitelists(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := newClock()
	m := newMemory(t, MemoryOptions{Now: clk.Now})
	if err := m.AddWhitelist(ctx, WhitelistEntry{Kind: KindDomain, Value: "dyn.example", Expires: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := m.AddWhitelist(ctx, WhitelistEntry{Kind: KindNetwork, Value: "198.51.100.0/24"}); err != nil {
		t.Fatal(err)
	}
	c := NewChecker(m, CheckerOptions{
		Networks:         []netip.Prefix{netip.MustParsePrefix("192.0.2.0/28")},
		SenderDomains:    []string{"Static.Example."},
		RecipientDomains: []string{"open.example"},
		Now:              clk.Now,
	}, quietLogger())
	c.Start(ctx)
	for _, tc := range []struct {
		client, sender, rcpt, want string
	}{
		{"203.0.113.1", "", "bob@x.example", ReasonExempt},
		{"203.0.113.1", "a@b.example", "postmaster@x.example", ReasonExempt},
		{"192.0.2.5", "a@b.example", "bob@x.example", ReasonWhitelist},
		{"::ffff:192.0.2.5", "a@b.example", "bob@x.example", ReasonWhitelist},
		{"192.0.2.17", "a@b.example", "bob@x.example", ReasonNew},
		{"203.0.113.1", "a@mail.static.example", "bob@x.example", ReasonWhitelist},
		{"203.0.113.1", "a@notstatic.example", "bob@x.example", ReasonNew},
		{"203.0.113.1", "a@b.example", "bob@open.example", ReasonWhitelist},
		{"203.0.113.1", "a@dyn.example", "bob@x.example", ReasonWhitelist},
		{"198.51.100.200", "a@b.example", "bob@x.example", ReasonWhitelist},
	} {
		r := Request{Client: netip.MustParseAddr(tc.client), Sender: tc.sender, Rcpt: tc.rcpt}
		d, err := c.Check(ctx, r)
		if err != nil || d.Reason != tc.want {
			t.Errorf("Check(%+v) = %+v, %v; want %s", r, d, err, tc.want)
		}
	}
	clk.Advance(time.Hour) // the dynamic domain entry expires between refreshes
	r := Request{Client: netip.MustParseAddr("203.0.113.1"), Sender: "a@dyn.example", Rcpt: "bob@x.example"}
	if d, err := c.Check(ctx, r); err != nil || d.Reason != ReasonNew {
		t.Errorf("Check after the entry expired = %+v, %v; want new", d, err)
	}
}
