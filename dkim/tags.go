package dkim

import (
	"errors"
	"fmt"
	"strings"
)

// ErrTagList reports a tag-list that does not follow RFC 6376 section 3.2.
var ErrTagList = errors.New("dkim: malformed tag-list")

// ParseTagList parses an RFC 6376 section 3.2 tag-list such as the value of
// a DKIM-Signature header field or a key record. Tag names and values are
// returned with surrounding folding white space removed; white space inside
// a value (b=, h=) is kept, as the RFC leaves its removal to each tag.
//
// Tag names must match ALPHA *(ALPHA / DIGIT / "_") and may not repeat:
// "if a tag name does occur more than once, the entire tag-list is invalid".
// Values are taken leniently (any byte but ";"), because the result only
// feeds reports; go-msgauth does its own, authoritative parse.
func ParseTagList(s string) (map[string]string, error) {
	tags := make(map[string]string)
	for spec := range strings.SplitSeq(s, ";") {
		if trimFWS(spec) == "" {
			// An empty spec is allowed only as the optional trailing ";",
			// but being lenient here hides nothing from verification.
			continue
		}
		name, value, ok := strings.Cut(spec, "=")
		if !ok {
			return nil, fmt.Errorf("%w: %q has no \"=\"", ErrTagList, clip(spec))
		}
		name = trimFWS(name)
		if !validTagName(name) {
			return nil, fmt.Errorf("%w: bad tag name %q", ErrTagList, clip(name))
		}
		if _, dup := tags[name]; dup {
			return nil, fmt.Errorf("%w: duplicate tag %q", ErrTagList, name)
		}
		tags[name] = trimFWS(value)
	}
	return tags, nil
}

// validTagName reports whether s is a tag-name (RFC 6376 section 3.2).
func validTagName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !('0' <= c && c <= '9') && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// trimFWS removes folding white space (RFC 5322 FWS: SP, HTAB, CR, LF).
func trimFWS(s string) string { return strings.Trim(s, " \t\r\n") }

// stripFWS removes all folding white space, e.g. from b= (RFC 6376 3.5:
// "Whitespace is ignored in this value").
func stripFWS(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// clip shortens hostile input before it lands in an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
