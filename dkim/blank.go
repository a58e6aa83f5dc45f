package dkim

import (
	"bytes"
	"strings"
	"unicode"
)

// maxBlankRun bounds the empty lines go-msgauth's canonicalizers are made
// to hold. They keep a run of CR/LF in memory until a byte of content
// follows (RFC 6376 3.4.3 and 3.4.4 drop empty lines only at the end of
// the body), and the simple one copies the whole held run again on every
// write it gets (32 KiB at a time), so a held run of n bytes costs n²/32Ki.
// The filter below withholds runs itself, as a count; what it has to
// replay, and what a relaxed canonicalizer holds, is capped at maxBlankRun
// per message. No real message comes near it.
const maxBlankRun = 1 << 20

// crlfs is written in pieces to replay withheld empty lines. The pieces
// are large because go-msgauth's simple canonicalizer copies what it holds
// on every write (it gets them in 32 KiB reads): 4 KiB pieces made a 1 MiB
// replay cost a second.
var crlfs = bytes.Repeat([]byte("\r\n"), 32<<10)

// bodyMode is the set of body canonicalizations the filter's output must
// keep intact: one stream feeds every signature of a message.
type bodyMode uint8

const (
	bodySimple  bodyMode = 1 << iota // some signature may use c=*/simple
	bodyRelaxed                      // some signature may use c=*/relaxed
)

// bodyModeOf returns the canonicalizations the signatures use, read as
// go-msgauth reads c= (white space removed, body part after the first "/",
// simple by default). A signature whose tags did not parse counts as both;
// one with an unknown canonicalization is refused by go-msgauth before the
// body and does not count.
func bodyModeOf(sigs []map[string]string) bodyMode {
	var m bodyMode
	for _, tags := range sigs {
		if len(tags) == 0 {
			m |= bodySimple | bodyRelaxed
			continue
		}
		c := strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) {
				return -1
			}
			return r
		}, tags["c"])
		_, body, found := strings.Cut(c, "/")
		switch {
		case !found || body == "simple":
			m |= bodySimple
		case body == "relaxed":
			m |= bodyRelaxed
		}
	}
	if m == 0 {
		m = bodySimple | bodyRelaxed
	}
	return m
}

// Where the filter stands in the line being read.
const (
	atLineStart = iota // nothing of this line seen yet
	inWSP              // relaxed only: white space only, so far
	inCR               // a "\r" that may start a line break (after white space, in relaxed)
	inContent          // the line holds content: it is passed on as it is
)

// blankFilter stands in front of go-msgauth's body canonicalizers and
// keeps runs of empty lines away from them. An empty line is "\r\n", or a
// bare "\n" (go-msgauth turns it into "\r\n"); when every signature uses
// relaxed body canonicalization, a line of white space only is one too
// (RFC 6376 3.4.4 reduces it to an empty line).
//
// A run of such lines that ends inside a chunk is passed on unchanged. A
// run that reaches the end of a chunk is withheld as a count (plus a
// trailing "\r" or white space, since a chunk may end anywhere, between
// "\r" and "\n" too: Postfix sends 65,535-byte chunks). A withheld run that
// turns out to be the end of the body is dropped, which neither
// canonicalization notices; one that content follows is replayed first as
// "\r\n" lines, which both canonicalize exactly as the original bytes.
type blankFilter struct {
	mode  bodyMode
	limit int // bytes; 0: unlimited
	write func([]byte) error

	state int
	lines int // complete empty lines in the current run, withheld ones included

	// What is withheld from earlier chunks: held empty lines, then the
	// start of the current line (white space, or a "\r").
	held        int
	heldWSP     bool
	heldCR      bool
	withholding bool

	replayed int // bytes of withheld lines replayed so far
	sunk     int // bytes a relaxed canonicalizer holds: CR and LF since its last byte of content
}

func newBlankFilter(mode bodyMode, limit int, write func([]byte) error) *blankFilter {
	return &blankFilter{mode: mode, limit: limit, write: write}
}

// feed passes chunk on, withholding a run of empty lines at its end. It
// reports false, writing nothing more, when passing it on would make a
// canonicalizer hold or replay more than the limit.
func (f *blankFilter) feed(chunk []byte) (bool, error) {
	relaxedOnly := f.mode == bodyRelaxed
	// Where this chunk's part of the current run of empty lines starts, or
	// -1 in a line with content. The chunk is written in one piece at the
	// end, up to the run that reaches its end, if any.
	runStart := -1
	if f.state != inContent {
		runStart = 0
	}
	for i := 0; i < len(chunk); {
		if f.state == inContent {
			nl := bytes.IndexByte(chunk[i:], '\n')
			if nl < 0 {
				break
			}
			i += nl + 1
			f.state, f.lines, runStart = atLineStart, 0, i
			continue
		}
		n, state, lines := scanRun(chunk[i:], f.state, relaxedOnly)
		i += n
		f.state, f.lines = state, f.lines+lines
		if state != inContent {
			break // the run reaches the end of the chunk
		}
		// The run ended: a line with content starts here (or began in the
		// withheld bytes). Replay what an earlier chunk withheld; this
		// chunk's part of the run goes as it is, with the rest of it.
		if f.withholding {
			if ok, err := f.replay(); !ok || err != nil {
				return ok, err
			}
		}
		runStart = -1
	}
	end := len(chunk)
	if runStart >= 0 {
		end = runStart
	}
	if ok, err := f.pass(chunk[:end]); !ok || err != nil {
		return ok, err
	}
	if runStart >= 0 {
		f.withhold()
	}
	return true, nil
}

// scanRun reads empty lines from the start of b, in state (not
// inContent), and returns how many bytes it read, the state after them, and
// the lines it completed. It stops at the first byte of content (state
// inContent: that byte, or the "\r" withheld before it, starts a line with
// content; white space before it is the line's too) or at the end of b.
func scanRun(b []byte, state int, relaxedOnly bool) (n, _ int, lines int) {
	i := 0
	for i < len(b) {
		c := b[i]
		switch state {
		case atLineStart:
			switch {
			case c == '\r' && i+1 < len(b) && b[i+1] == '\n':
				lines++
				i++ // the common "\r\n" in one step
			case c == '\n':
				lines++
			case c == '\r':
				state = inCR
			case relaxedOnly && (c == ' ' || c == '\t'):
				state = inWSP
			default:
				return i, inContent, lines
			}
		case inWSP:
			switch c {
			case ' ', '\t':
			case '\n':
				state = atLineStart
				lines++
			case '\r':
				state = inCR
			default:
				return i, inContent, lines
			}
		case inCR:
			if c != '\n' {
				return i, inContent, lines // a bare CR is content
			}
			state = atLineStart
			lines++
		}
		i++
	}
	return i, state, lines
}

// withhold records the run at the end of the chunk as a count.
func (f *blankFilter) withhold() {
	f.held = f.lines
	f.heldWSP, f.heldCR = f.state == inWSP, f.state == inCR
	f.withholding = f.held > 0 || f.heldWSP || f.heldCR
}

// replay writes the withheld run: its empty lines as "\r\n", then the
// start of the line that follows. Relaxed canonicalization turns any white
// space there into one space, and drops it before a "\r"; simple never
// withholds white space.
func (f *blankFilter) replay() (bool, error) {
	n := 2 * f.held
	if f.heldCR {
		n++
	}
	f.replayed += n
	if f.limit > 0 && f.replayed > f.limit {
		return false, nil
	}
	for left := 2 * f.held; left > 0; {
		k := min(left, len(crlfs))
		if ok, err := f.pass(crlfs[:k]); !ok || err != nil {
			return ok, err
		}
		left -= k
	}
	var tail []byte
	switch {
	case f.heldCR:
		tail = []byte{'\r'}
	case f.heldWSP:
		tail = []byte{' '}
	}
	f.held, f.heldWSP, f.heldCR, f.withholding = 0, false, false, false
	return f.pass(tail)
}

// pass writes b, after checking that a relaxed canonicalizer would not
// then hold more CR and LF than the limit.
func (f *blankFilter) pass(b []byte) (bool, error) {
	if len(b) == 0 {
		return true, nil
	}
	if f.mode&bodyRelaxed != 0 {
		f.sunk = relaxedHeld(b, f.sunk)
		if f.limit > 0 && f.sunk > f.limit {
			return false, nil
		}
	}
	return true, f.write(b)
}

// relaxedHeld returns what relaxed canonicalization holds after b, having
// held sunk bytes before: the CR and LF after b's last byte of content, or
// sunk plus all of b's if b has none.
func relaxedHeld(b []byte, sunk int) int {
	n := 0
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case '\r', '\n':
			n++
		case ' ', '\t':
		default:
			return n
		}
	}
	return sunk + n
}

// close ends the body. A withheld run is dropped, unless it ends in a "\r"
// that simple canonicalization keeps (it is content, not a line break);
// relaxed drops it with the run.
func (f *blankFilter) close() (bool, error) {
	if f.withholding && f.heldCR && f.mode&bodySimple != 0 {
		return f.replay()
	}
	f.held, f.withholding = 0, false
	return true, nil
}
