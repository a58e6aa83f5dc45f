package metrics

import (
	"sync"
	"unicode/utf8"
)

// Label values that stand in for what may not become a label.
const (
	labelNone  = "none"  // empty: cleartext session, no cipher
	labelOther = "other" // over the cap, too long or not UTF-8
)

// maxLabelLen bounds one network-supplied label value; real TLS version and
// cipher names are far shorter.
const maxLabelLen = 64

// labelCap passes through the first max distinct values it sees and maps
// every later new value to "other". It bounds the series a value taken from
// the network can create.
type labelCap struct {
	mu   sync.Mutex
	max  int
	seen map[string]struct{}
}

func newLabelCap(max int) *labelCap {
	return &labelCap{max: max, seen: make(map[string]struct{}, max)}
}

// value returns the label value to use for s. Invalid UTF-8 would make the
// prometheus client panic, so it never gets through.
func (c *labelCap) value(s string) string {
	switch {
	case s == "":
		return labelNone
	case len(s) > maxLabelLen || !utf8.ValidString(s):
		return labelOther
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[s]; ok {
		return s
	}
	if len(c.seen) >= c.max {
		return labelOther
	}
	c.seen[s] = struct{}{}
	return s
}
