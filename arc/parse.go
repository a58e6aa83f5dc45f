package arc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"spamgate/dkim"
)

// The three ARC header fields (RFC 8617 section 4.1).
const (
	NameAAR = "ARC-Authentication-Results"
	NameAMS = "ARC-Message-Signature"
	NameAS  = "ARC-Seal"
)

// MaxInstances is RFC 8617 4.2.1's limit: "The maximum number of ARC Sets
// that can be attached to a message is 50."
const MaxInstances = 50

// Chain validation statuses, the cv= values (RFC 8617 4.1.3) and the
// arc= results of Authentication-Results.
const (
	None = "none"
	Pass = "pass"
	Fail = "fail"
)

// kind tells the three ARC fields apart; 0 is any other field.
type kind uint8

const (
	kindOther kind = iota
	kindAAR
	kindAMS
	kindAS
)

func kindOf(name string) kind {
	name = strings.TrimRight(name, " \t")
	switch {
	case strings.EqualFold(name, NameAAR):
		return kindAAR
	case strings.EqualFold(name, NameAMS):
		return kindAMS
	case strings.EqualFold(name, NameAS):
		return kindAS
	}
	return kindOther
}

// set is one ARC set: the three fields of one instance, as raw header
// lines (name ":" value CRLF, rebuilt byte-exact) and parsed tags.
type set struct {
	aar, ams, as          []byte
	amsTags, asTags       map[string]string
	aarPayload            string // the AAR value after "i=N;"
	haveAAR, haveAMS, has bool
	canon                 [3][]byte // relaxed AAR, AMS, AS; nil until canonicalize
}

// canonicalize computes the relaxed forms the seals hash, once.
func (s *set) canonicalize() {
	if s.canon[0] != nil {
		return
	}
	s.canon = [3][]byte{dkim.CanonHeader(true, s.aar), dkim.CanonHeader(true, s.ams), dkim.CanonHeader(true, s.as)}
}

// ErrStructure is an ARC chain whose sets do not follow RFC 8617 4.2.1 /
// 5.2 step 2 (duplicates, gaps, bad instance tags or cv= values).
var ErrStructure = errors.New("arc: broken chain structure")

// ParseInstance returns the instance number i= of an ARC field value: for
// AMS and AS a tag of the tag-list, for the AAR the leading "i=N;" (RFC
// 8617 4.1.1). It accepts 1…MaxInstances written as plain digits.
func ParseInstance(name, value string) (int, error) {
	switch kindOf(name) {
	case kindAAR:
		head, _, ok := strings.Cut(value, ";")
		if !ok {
			return 0, fmt.Errorf("%w: %s has no \"i=N;\"", ErrStructure, NameAAR)
		}
		tag, v, ok := strings.Cut(head, "=")
		if !ok || strings.Trim(tag, " \t\r\n") != "i" {
			return 0, fmt.Errorf("%w: %s does not start with i=", ErrStructure, NameAAR)
		}
		return instance(v)
	case kindAMS, kindAS:
		tags, err := dkim.ParseTagList(value)
		if err != nil {
			return 0, fmt.Errorf("%w: %s: %v", ErrStructure, name, err)
		}
		return instance(tags["i"])
	}
	return 0, fmt.Errorf("arc: %q is not an ARC header field", clip(name))
}

// instance parses an i= value: 1…50, digits only, no sign, at most two digits.
func instance(v string) (int, error) {
	v = strings.Trim(v, " \t\r\n")
	if v == "" || len(v) > 2 || strings.TrimLeft(v, "0123456789") != "" {
		return 0, fmt.Errorf("%w: instance %q is not 1 to %d", ErrStructure, clip(v), MaxInstances)
	}
	n, _ := strconv.Atoi(v)
	if n < 1 || n > MaxInstances {
		return 0, fmt.Errorf("%w: instance %d is not 1 to %d", ErrStructure, n, MaxInstances)
	}
	return n, nil
}

// collect builds the chain from the ARC fields in message order. It fails
// on anything RFC 8617 calls a broken structure: a malformed field, an
// instance seen twice for one field, a gap, more than max instances.
func collect(fields []field, max int) ([]*set, error) {
	byInst := map[int]*set{}
	top := 0
	for _, f := range fields {
		k := kindOf(f.name)
		if k == kindOther {
			continue
		}
		i, err := ParseInstance(f.name, f.value)
		if err != nil {
			return nil, err
		}
		if i > max {
			return nil, fmt.Errorf("%w: instance %d is over the limit of %d", ErrStructure, i, max)
		}
		s := byInst[i]
		if s == nil {
			s = &set{}
			byInst[i] = s
		}
		line := dkim.HeaderLine(f.name, f.value)
		switch k {
		case kindAAR:
			if s.haveAAR {
				return nil, fmt.Errorf("%w: two %s with i=%d", ErrStructure, NameAAR, i)
			}
			s.haveAAR, s.aar = true, line
			_, s.aarPayload, _ = strings.Cut(f.value, ";")
		case kindAMS:
			if s.haveAMS {
				return nil, fmt.Errorf("%w: two %s with i=%d", ErrStructure, NameAMS, i)
			}
			tags, _ := dkim.ParseTagList(f.value) // parsed without error by ParseInstance
			s.haveAMS, s.ams, s.amsTags = true, line, tags
		case kindAS:
			if s.has {
				return nil, fmt.Errorf("%w: two %s with i=%d", ErrStructure, NameAS, i)
			}
			tags, _ := dkim.ParseTagList(f.value)
			s.has, s.as, s.asTags = true, line, tags
		}
		top = max2(top, i)
	}
	sets := make([]*set, top)
	for i := 1; i <= top; i++ {
		s := byInst[i]
		if s == nil || !s.haveAAR || !s.haveAMS || !s.has {
			return nil, fmt.Errorf("%w: ARC set %d of %d is incomplete or missing", ErrStructure, i, top)
		}
		sets[i-1] = s
	}
	return sets, nil
}

// checkCV applies RFC 8617 5.2 steps 2–3 to the cv= values: the newest
// must not be fail, AS(1) is none, every later AS pass. An AS with h= is
// an error (4.1.3).
func checkCV(sets []*set) error {
	for i, s := range sets {
		cv := strings.ToLower(strings.Trim(s.asTags["cv"], " \t\r\n"))
		if _, ok := s.asTags["h"]; ok {
			return fmt.Errorf("%w: ARC-Seal i=%d has an h= tag", ErrStructure, i+1)
		}
		switch {
		case i == len(sets)-1 && cv == Fail:
			return fmt.Errorf("arc: the newest ARC-Seal (i=%d) says cv=fail", i+1)
		case i == 0 && cv != None:
			return fmt.Errorf("%w: ARC-Seal i=1 has cv=%q, want none", ErrStructure, clip(cv))
		case i > 0 && cv != Pass:
			return fmt.Errorf("%w: ARC-Seal i=%d has cv=%q, want pass", ErrStructure, i+1, clip(cv))
		}
	}
	return nil
}

func max2(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// clip shortens hostile input before it lands in an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
