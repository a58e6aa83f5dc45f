package dkim

import (
	"bytes"
	"io"
	"strings"
)

// Canonicalization is a canonicalization algorithm.
type Canonicalization string

const (
	CanonicalizationSimple  Canonicalization = "simple"
	CanonicalizationRelaxed                  = "relaxed"
)

type canonicalizer interface {
	CanonicalizeHeader(s string) string
	CanonicalizeBody(w io.Writer) io.WriteCloser
}

var canonicalizers = map[Canonicalization]canonicalizer{
	CanonicalizationSimple:  new(simpleCanonicalizer),
	CanonicalizationRelaxed: new(relaxedCanonicalizer),
}

type simpleCanonicalizer struct{}

func (c *simpleCanonicalizer) CanonicalizeHeader(s string) string {
	return s
}

// plain marks the bytes that the relaxed body canonicalizer passes through
// unchanged: all but space, tab, CR and LF.
var plain = func() (t [256]bool) {
	for i := range t {
		t[i] = true
	}
	t[' '], t['\t'], t['\r'], t['\n'] = false, false, false, false
	return t
}()

// simpleBodyCanonicalizer implements RFC 6376 section 3.4.3: trailing empty
// lines are dropped and the body ends in CRLF. A lone LF counts as CRLF.
// The CRLFs not yet written are only counted, so that a run of empty lines
// costs no memory.
type simpleBodyCanonicalizer struct {
	w     io.Writer
	crlfs int    // line ends seen but not yet written
	cr    bool   // the last byte was a CR, which may start a CRLF
	out   []byte // reused between writes
	err   error  // of a write in the middle of Write
}

func (c *simpleBodyCanonicalizer) Write(b []byte) (int, error) { return writeSegments(c, b) }

func (c *simpleBodyCanonicalizer) takeErr() error {
	err := c.err
	c.err = nil
	return err
}

// segmenter is a body canonicalizer, fed a segment at a time.
type segmenter interface {
	canonicalize(seg []byte)
	takeErr() error // of the writes to the hash, cleared
}

// segment is how much of a write the body canonicalizers take at a time,
// so that their output buffer stays small whatever the write's size.
const segment = 2048

func writeSegments(c segmenter, b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		seg := b
		if len(seg) > segment {
			seg = seg[:segment]
		}
		c.canonicalize(seg)
		if err := c.takeErr(); err != nil {
			return n - len(b), err
		}
		b = b[len(seg):]
	}
	return n, nil
}

func (c *simpleBodyCanonicalizer) canonicalize(b []byte) {
	out := growFor(c.out, len(b)+1)
	// The positions of the next CR and LF at or after i (len(b): none),
	// each searched again only once i has passed it: a search for the next
	// CR at every line would scan to the end of the segment each time in a
	// body whose lines end in a bare LF.
	nextCR, nextLF := -1, -1
	for i := 0; i < len(b); {
		ch := b[i]
		if c.cr {
			c.cr = false
			if ch == '\n' {
				c.crlfs++
				i++
				continue
			}
			out = c.flushCRLFs(out)
			out = append(out, '\r') // a lone CR is content
		}
		switch ch {
		case '\r':
			c.cr = true
			i++
		case '\n': // a lone LF: a line end
			c.crlfs++
			i++
		default: // content, up to the next CR or LF (vectorized scans)
			out = c.flushCRLFs(out)
			if nextCR < i {
				nextCR = indexFrom(b, i, '\r')
			}
			if nextLF < i {
				nextLF = indexFrom(b, i, '\n')
			}
			j := nextCR
			if nextLF < j {
				j = nextLF
			}
			out = append(out, b[i:j]...)
			i = j
		}
	}
	c.out = out
	if len(out) > 0 {
		c.write(out)
	}
}

// indexFrom is the index of the first c in b at or after i, or len(b).
func indexFrom(b []byte, i int, c byte) int {
	if k := bytes.IndexByte(b[i:], c); k >= 0 {
		return i + k
	}
	return len(b)
}

// growFor returns buf emptied, with room for n bytes.
func growFor(buf []byte, n int) []byte {
	if cap(buf) < n {
		return make([]byte, 0, n)
	}
	return buf[:0]
}

// maxHeld is how many held-back line-end bytes are gathered with the
// write's other output; a longer run is written on its own, so that the
// buffer reused between writes does not grow with it.
const maxHeld = 4096

var crlfBlock = []byte(strings.Repeat(crlf, maxHeld/2))

// flushCRLFs appends the held line ends to out, or writes out and them.
func (c *simpleBodyCanonicalizer) flushCRLFs(out []byte) []byte {
	if 2*c.crlfs <= maxHeld {
		for ; c.crlfs > 0; c.crlfs-- {
			out = append(out, '\r', '\n')
		}
		return out
	}
	c.write(out)
	for c.crlfs > 0 {
		n := c.crlfs
		if n > maxHeld/2 {
			n = maxHeld / 2
		}
		c.write(crlfBlock[:2*n])
		c.crlfs -= n
	}
	return out[:0]
}

func (c *simpleBodyCanonicalizer) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

func (c *simpleBodyCanonicalizer) Close() error {
	out := c.out[:0]
	// A body that ends in a lone CR keeps its empty lines before the CR.
	if c.cr {
		out = append(c.flushCRLFs(out), '\r')
	}
	c.crlfs, c.cr = 0, false
	c.write(append(out, crlf...))
	return c.err
}

func (c *simpleCanonicalizer) CanonicalizeBody(w io.Writer) io.WriteCloser {
	return &simpleBodyCanonicalizer{w: w}
}

type relaxedCanonicalizer struct{}

func isRelaxedSpace(ch byte) bool {
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'
}

func (c *relaxedCanonicalizer) CanonicalizeHeader(s string) string {
	k, v, ok := strings.Cut(s, ":")
	if !ok {
		return strings.TrimSpace(strings.ToLower(s)) + ":" + crlf
	}

	k = strings.TrimSpace(strings.ToLower(k))
	// The value's runs of WSP and line ends become one space; leading and
	// trailing ones go. The separators are ASCII, so bytes can be scanned
	// (the fields themselves are copied as they are).
	var b strings.Builder
	b.Grow(len(k) + len(v) + 3)
	b.WriteString(k)
	b.WriteByte(':')
	sep := false
	for i := 0; i < len(v); {
		if isRelaxedSpace(v[i]) {
			sep = b.Len() > len(k)+1
			i++
			continue
		}
		j := i + 1
		for j < len(v) && !isRelaxedSpace(v[j]) {
			j++
		}
		if sep {
			b.WriteByte(' ')
			sep = false
		}
		b.WriteString(v[i:j])
		i = j
	}
	b.WriteString(crlf)
	return b.String()
}

// relaxedBodyCanonicalizer implements RFC 6376 section 3.4.4: WSP runs
// become one space, WSP at line ends goes, trailing empty lines are dropped,
// and a non-empty body ends in CRLF. A lone LF counts as CRLF.
type relaxedBodyCanonicalizer struct {
	w       io.Writer
	crlfBuf []byte // line ends (and lone CRs) not yet written
	wsp     bool   // WSP seen, not yet written
	cr      bool   // the last byte was a CR
	written bool
	out     []byte // reused between writes
	err     error  // of a write in the middle of Write
}

func (c *relaxedBodyCanonicalizer) Write(b []byte) (int, error) { return writeSegments(c, b) }

func (c *relaxedBodyCanonicalizer) takeErr() error {
	err := c.err
	c.err = nil
	return err
}

func (c *relaxedBodyCanonicalizer) canonicalize(b []byte) {
	out := growFor(c.out, len(b)+1)
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line = b[:i+1]
		}
		if !c.wsp && !c.cr && canonicalLine(line) {
			// Already canonical: copied as it is, its CRLF held.
			if len(c.crlfBuf) > 0 {
				out = c.flushHeld(out)
			}
			out = append(out, line[:len(line)-2]...)
			c.crlfBuf = append(c.crlfBuf, '\r', '\n')
		} else {
			out = c.canonicalizeBytes(out, line)
		}
		b = b[len(line):]
	}
	c.out = out
	if len(out) > 0 {
		c.write(out)
	}
}

// canonicalLine reports whether line is text ending in CRLF that relaxed
// canonicalization leaves as it is: no tab, no CR or LF before the end, no
// two spaces in a row, no space at the end. Most lines of most mail are;
// the checks are a few vectorized scans instead of a branch per byte.
func canonicalLine(line []byte) bool {
	n := len(line) - 2
	if n < 1 || line[n] != '\r' || line[n+1] != '\n' {
		return false
	}
	text := line[:n]
	return text[n-1] != ' ' && bytes.IndexByte(text, '\t') < 0 && bytes.IndexByte(text, '\r') < 0 &&
		bytes.Index(text, doubleSpace) < 0
}

var doubleSpace = []byte("  ")

// canonicalizeBytes is the general case, a byte at a time.
func (c *relaxedBodyCanonicalizer) canonicalizeBytes(out, b []byte) []byte {
	for _, ch := range b {
		if plain[ch] {
			if len(c.crlfBuf) > 0 {
				out = c.flushHeld(out)
			}
			if c.wsp {
				out = append(out, ' ')
				c.wsp = false
			}
			c.cr = false
			out = append(out, ch)
			continue
		}
		switch ch {
		case ' ', '\t':
			c.wsp, c.cr = true, false
		case '\r':
			c.wsp, c.cr = false, true
			c.crlfBuf = append(c.crlfBuf, '\r')
		case '\n':
			if !c.cr {
				c.crlfBuf = append(c.crlfBuf, '\r') // a lone LF: a line end
			}
			c.wsp, c.cr = false, false
			c.crlfBuf = append(c.crlfBuf, '\n')
		}
	}
	return out
}

// flushHeld appends the held line ends to out, or writes out and a long
// run of them on its own (see maxHeld).
func (c *relaxedBodyCanonicalizer) flushHeld(out []byte) []byte {
	if len(c.crlfBuf) <= maxHeld {
		out = append(out, c.crlfBuf...)
	} else {
		c.write(out)
		c.write(c.crlfBuf)
		out = out[:0]
	}
	c.crlfBuf = c.crlfBuf[:0]
	return out
}

func (c *relaxedBodyCanonicalizer) write(b []byte) {
	if len(b) > 0 {
		c.written = true
	}
	if c.err == nil && len(b) > 0 {
		_, c.err = c.w.Write(b)
	}
}

func (c *relaxedBodyCanonicalizer) Close() error {
	if c.written {
		c.write([]byte(crlf))
	}
	return c.err
}

func (c *relaxedCanonicalizer) CanonicalizeBody(w io.Writer) io.WriteCloser {
	return &relaxedBodyCanonicalizer{w: w}
}

type limitedWriter struct {
	W io.Writer
	N int64
}

func (w *limitedWriter) Write(b []byte) (int, error) {
	if w.N <= 0 {
		return len(b), nil
	}

	skipped := 0
	if int64(len(b)) > w.N {
		b = b[:w.N]
		skipped = int(int64(len(b)) - w.N)
	}

	n, err := w.W.Write(b)
	w.N -= int64(n)
	return n + skipped, err
}
