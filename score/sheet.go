package score

import (
	"math"
	"strconv"
	"strings"
)

// Hit is one rule that fired and the points it gave.
type Hit struct {
	Name   string  // rule name in SpamAssassin's style: A-Z, 0-9, _
	Points float64 // may be negative: a sign of ham
	Desc   string  // for logs and reports; not put in headers
}

// Sheet collects the hits of one message. The zero value is an empty
// sheet, ready to use.
type Sheet struct {
	Hits []Hit
}

// Add records a hit. A zero-point hit is not recorded: SpamAssassin does not
// list rules whose score is 0 either. Neither is a NaN or infinite one, which
// would make the total meaningless. A name already on the sheet gets the
// points added to it, so that tests= never names a rule twice; a hit whose
// points sum to zero is dropped. The name is upper-cased and any character
// outside A-Z0-9_ becomes '_', since it ends up in a header.
func (s *Sheet) Add(name string, points float64, desc string) {
	if points == 0 || math.IsNaN(points) || math.IsInf(points, 0) {
		return
	}
	name = cleanName(name)
	for i := range s.Hits {
		if s.Hits[i].Name == name {
			s.Hits[i].Points += points
			if s.Hits[i].Points == 0 {
				s.Hits = append(s.Hits[:i], s.Hits[i+1:]...)
			}
			return
		}
	}
	s.Hits = append(s.Hits, Hit{Name: name, Points: points, Desc: desc})
}

// cleanName makes name safe for a header field and a Sieve match.
func cleanName(name string) string {
	if name == "" {
		return "UNNAMED"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return '_'
	}, name)
}

// sum is the score SpamAssassin decides on: the plain sum rounded to three
// decimals (PerMsgStatus does sprintf "%0.3f"), which also drops the float
// noise of sums like 0.1+0.2.
func (s *Sheet) sum() float64 {
	var t float64
	for _, h := range s.Hits {
		t += h.Points
	}
	return round(t, 3)
}

// Total is the score as SpamAssassin prints it: rounded to one decimal.
// (In X-Spam-Status a ham score that would round up to the tag level is
// shown 0.1 below it instead; see Headers.)
func (s *Sheet) Total() float64 {
	return round(s.sum(), 1)
}

// round rounds x to prec decimals the way printf's %.Nf does, so that the
// number and its printed form always agree.
func round(x float64, prec int) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', prec, 64), 64)
	return r
}
