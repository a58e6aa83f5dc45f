package greylist

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// Peek (explain's dry run) answers what Check would, and writes nothing.
func TestPeekWritesNothing(t *testing.T) {
	clk := newClock()
	m, err := NewMemory(MemoryOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := NewChecker(m, CheckerOptions{Now: clk.Now}, nil)
	ctx := context.Background()
	r := Request{Client: netip.MustParseAddr("192.0.2.7"), Sender: "a@example.org", Rcpt: "b@example.net"}
	peek := func(want string, wantAllowed bool) {
		t.Helper()
		d, err := c.Peek(ctx, r)
		if err != nil || d.Reason != want || d.Allowed != wantAllowed {
			t.Fatalf("Peek = %+v, %v; want %s (allowed %v)", d, err, want, wantAllowed)
		}
	}
	peek(ReasonNew, false)
	peek(ReasonNew, false) // still new: the first Peek stored nothing
	if d, _ := c.Check(ctx, r); d.Reason != ReasonNew {
		t.Fatalf("Check = %+v, want new", d)
	}
	clk.Advance(time.Minute)
	peek(ReasonEarly, false)
	clk.Advance(5 * time.Minute)
	peek(ReasonPass, true)
	if e, _ := m.Status(ctx, MakeKey(r, Params{}.WithDefaults())); !e.PassedAt.IsZero() {
		t.Fatal("Peek marked the triplet passed")
	}
	r.Sender = ""
	peek(ReasonExempt, true)
}
