package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// This file exports the pieces of DKIM that ARC (RFC 8617) reuses:
// header and body canonicalization (RFC 6376 3.4), the removal of the b=
// value before hashing (3.7), and key records (3.6.1). go-msgauth keeps its
// own unexported, so ARC cannot borrow them from there.

// CanonHeader returns one header field ("Name:value\r\n", as HeaderLine
// builds it) in the "simple" or "relaxed" header canonicalization
// (RFC 6376 3.4.1, 3.4.2), CRLF-terminated.
func CanonHeader(relaxed bool, line []byte) []byte {
	if !relaxed {
		return line
	}
	name, value, _ := strings.Cut(string(line), ":")
	out := make([]byte, 0, len(line))
	out = append(out, strings.ToLower(strings.TrimRight(name, " \t"))...)
	out = append(out, ':')
	// Unfold, turn runs of WSP into one SP, drop WSP at both ends.
	space := false
	start := len(out)
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '\r', '\n':
		case ' ', '\t':
			space = true
		default:
			if space && len(out) > start {
				out = append(out, ' ')
			}
			space = false
			out = append(out, c)
		}
	}
	return append(out, '\r', '\n')
}

// StripSignature returns a signature header value with the value of its b=
// tag removed, the form in which the signature field itself is hashed
// (RFC 6376 3.7; RFC 8617 5.1.1 for AMS and AS). Everything else, white
// space included, is kept byte for byte.
func StripSignature(value string) string {
	var b strings.Builder
	b.Grow(len(value))
	rest := value
	for {
		spec, after, more := strings.Cut(rest, ";")
		name, _, hasEq := strings.Cut(spec, "=")
		if hasEq && trimFWS(name) == "b" {
			i := strings.IndexByte(spec, '=')
			b.WriteString(spec[:i+1])
		} else {
			b.WriteString(spec)
		}
		if !more {
			return b.String()
		}
		b.WriteByte(';')
		rest = after
	}
}

// crlfRun is written for runs of withheld empty lines, a chunk at a time.
var crlfRun = []byte(strings.Repeat("\r\n", 2048))

// BodyCanon streams a body through the "simple" or "relaxed" body
// canonicalization (RFC 6376 3.4.3, 3.4.4) into w, typically a hash. It
// holds no more than a small buffer: a run of empty lines is only counted,
// and replayed when a line with content follows (dropped at the end), so a
// body of a million empty lines costs hashing time, bounded by the body
// size limit, and no memory.
type BodyCanon struct {
	w       io.Writer
	relaxed bool
	buf     []byte
	empty   int64 // empty lines withheld
	content bool  // the current line has content
	space   bool  // relaxed: white space pending inside the line
	cr      bool  // a CR that may start a CRLF
	wrote   bool  // anything was written at all
	n       int64 // canonical bytes written
	limit   int64 // l=: stop after this many canonical bytes; < 0 none
	err     error
}

// NewBodyCanon returns a BodyCanon writing into w. limit is the l= value
// (canonical bytes hashed), or -1 for the whole body.
func NewBodyCanon(relaxed bool, w io.Writer, limit int64) *BodyCanon {
	return &BodyCanon{w: w, relaxed: relaxed, buf: make([]byte, 0, 4096), limit: limit}
}

// Write canonicalizes one chunk of the body (lines end in CRLF; a bare LF
// ends a line too, as Postfix never sends one).
func (c *BodyCanon) Write(p []byte) (int, error) {
	for _, b := range p {
		if c.cr && b != '\n' {
			c.cr = false
			c.char('\r')
		}
		switch {
		case b == '\r':
			c.cr = true
		case b == '\n':
			c.cr = false
			if c.content {
				c.out("\r\n")
			} else {
				c.empty++
			}
			c.content, c.space = false, false
		case c.relaxed && (b == ' ' || b == '\t'):
			c.space = true
		default:
			c.char(b)
		}
	}
	return len(p), c.err
}

func (c *BodyCanon) char(b byte) {
	if !c.content {
		c.content = true
		c.flushEmpty()
	}
	if c.space {
		c.space = false
		c.buf = append(c.buf, ' ')
	}
	c.buf = append(c.buf, b)
	c.wrote = true
	if len(c.buf) >= 4000 {
		c.flush()
	}
}

func (c *BodyCanon) out(s string) {
	c.buf = append(c.buf, s...)
	c.wrote = true
	if len(c.buf) >= 4000 {
		c.flush()
	}
}

func (c *BodyCanon) flushEmpty() {
	for c.empty > 0 {
		c.flush()
		n := min(c.empty, int64(len(crlfRun)/2))
		c.emit(crlfRun[:2*n])
		c.empty -= n
	}
}

func (c *BodyCanon) flush() {
	c.emit(c.buf)
	c.buf = c.buf[:0]
}

// emit writes canonical bytes, cut at l= when there is one.
func (c *BodyCanon) emit(b []byte) {
	if c.err != nil || len(b) == 0 {
		return
	}
	if c.limit >= 0 {
		room := c.limit - c.n
		if room <= 0 {
			return
		}
		if int64(len(b)) > room {
			b = b[:room]
		}
	}
	c.n += int64(len(b))
	if _, err := c.w.Write(b); err != nil {
		c.err = err
	}
}

// Close ends the body: a last line without CRLF gets one, trailing empty
// lines are dropped, and an empty body is "\r\n" under "simple" (RFC 6376
// 3.4.3) and nothing under "relaxed" (3.4.4).
func (c *BodyCanon) Close() error {
	if c.cr {
		c.cr = false
		c.char('\r')
	}
	if c.content {
		c.out("\r\n")
		c.content = false
	}
	if !c.wrote && !c.relaxed {
		c.out("\r\n")
	}
	c.flush()
	return c.err
}

// ErrKeyRevoked is a key record with an empty p= (RFC 6376 3.6.1).
var ErrKeyRevoked = errors.New("key revoked (empty p=)")

// KeyRecord is a parsed DKIM key record.
type KeyRecord struct {
	Public crypto.PublicKey // *rsa.PublicKey or ed25519.PublicKey
	Flags  []string         // t= flags
	Hashes []string         // h=, empty for any
}

// ParseKeyRecord parses a key record (RFC 6376 3.6.1, RFC 8463 4). RSA
// keys under 1024 bits are refused (RFC 8301 3.2).
func ParseKeyRecord(txt string) (*KeyRecord, error) {
	tags, err := ParseTagList(txt)
	if err != nil {
		return nil, err
	}
	if v, ok := tags["v"]; ok && v != "DKIM1" {
		return nil, fmt.Errorf("key record version %q is not DKIM1", clip(v))
	}
	if s, ok := tags["s"]; ok && !hasListItem(s, "*") && !hasListItem(s, "email") {
		return nil, fmt.Errorf("key service type %q excludes email", clip(s))
	}
	p, ok := tags["p"]
	if !ok {
		return nil, errors.New("key record has no p=")
	}
	p = stripFWS(p)
	if p == "" {
		return nil, ErrKeyRevoked
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("key p= is not base64: %w", err)
	}
	rec := &KeyRecord{}
	for f := range strings.SplitSeq(tags["t"], ":") {
		if f = trimFWS(f); f != "" {
			rec.Flags = append(rec.Flags, f)
		}
	}
	for h := range strings.SplitSeq(tags["h"], ":") {
		if h = trimFWS(h); h != "" {
			rec.Hashes = append(rec.Hashes, h)
		}
	}
	switch k := trimFWS(tags["k"]); k {
	case "", "rsa":
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			pub, err = x509.ParsePKCS1PublicKey(der)
		}
		if err != nil {
			return nil, fmt.Errorf("key p= is not an RSA public key: %w", err)
		}
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("key p= is %T, not RSA", pub)
		}
		if rk.N.BitLen() < 1024 {
			return nil, fmt.Errorf("RSA key of %d bits, under 1024 (RFC 8301)", rk.N.BitLen())
		}
		rec.Public = rk
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("ed25519 key of %d bytes", len(der))
		}
		rec.Public = ed25519.PublicKey(der)
	default:
		return nil, fmt.Errorf("unknown key type k=%q", clip(k))
	}
	return rec, nil
}

func hasListItem(list, item string) bool {
	for s := range strings.SplitSeq(list, ":") {
		if trimFWS(s) == item {
			return true
		}
	}
	return false
}
