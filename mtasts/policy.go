package mtasts

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Policy modes (RFC 8461 3.2).
const (
	ModeEnforce = "enforce"
	ModeTesting = "testing"
	ModeNone    = "none"
)

// MaxMaxAge is the largest max_age a policy may have (RFC 8461 3.2: 31557600 s, about
// a year).
const MaxMaxAge = 31557600 * time.Second

// Policy is an MTA-STS policy (RFC 8461 3.2) with what the cache knows about it.
// Policies returned by this package are copies: the caller may keep or change them.
type Policy struct {
	Version string        // "STSv1"
	Mode    string        // ModeEnforce, ModeTesting or ModeNone
	MX      []string      // allowed MX patterns, lower-cased, "*." only leftmost
	MaxAge  time.Duration // how long the policy may be cached
	ID      string        // the id of the TXT record it was fetched for (3.1)
	Fetched time.Time     // when it was fetched

	rendered *rendering // the Postfix answer, made at the fetch; nil for other policies
}

// Expires returns when the policy stops being in force: Fetched plus MaxAge (3.2).
func (p *Policy) Expires() time.Time { return p.Fetched.Add(p.MaxAge) }

// Expired reports whether the policy is no longer in force at now.
func (p *Policy) Expired(now time.Time) bool { return !now.Before(p.Expires()) }

// clone copies the policy; the copy shares the immutable rendering and the strings.
func (p *Policy) clone() *Policy {
	c := *p
	c.MX = slices.Clone(p.MX)
	return &c
}

// ParsePolicy parses a policy body (RFC 8461 3.2): "key: value" lines ended by LF or
// CRLF. version, mode and max_age are required once; mx at least once unless the mode
// is "none". Unknown keys are ignored, as 3.2 requires, but must be well-formed; blank
// lines are tolerated.
func ParsePolicy(text []byte) (*Policy, error) {
	p := &Policy{}
	seen := map[string]bool{}
	for i, line := range bytes.Split(text, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.Trim(line, " \t")) == 0 {
			continue
		}
		if err := p.parseLine(string(line), seen); err != nil {
			return nil, fmt.Errorf("mtasts: policy line %d: %w", i+1, err)
		}
	}
	if err := p.check(seen); err != nil {
		return nil, fmt.Errorf("mtasts: policy: %w", err)
	}
	return p, nil
}

// check enforces the presence rules of the 3.2 grammar.
func (p *Policy) check(seen map[string]bool) error {
	for _, key := range []string{"version", "mode", "max_age"} {
		if !seen[key] {
			return fmt.Errorf("no %s", key)
		}
	}
	if len(p.MX) == 0 && p.Mode != ModeNone {
		return errors.New("no mx (required unless mode is none)")
	}
	return nil
}
