package dkim

import "bytes"

// maxBlankRun bounds the run of empty lines the verifier lets through in
// the middle of a body. go-msgauth's canonicalizers keep a run of CR/LF in
// memory until a non-empty line follows (RFC 6376 3.4.3 and 3.4.4 drop
// empty lines only at the end), so a body that is mostly empty lines would
// be held whole. No real message has a megabyte of consecutive empty lines.
const maxBlankRun = 1 << 20

// crlfs is written in pieces to replay a held run of empty lines.
var crlfs = bytes.Repeat([]byte("\r\n"), 2048)

// blankRun holds back the "\r\n" pairs at the end of what has been fed, as a
// count, not bytes. Dropping such a run at the very end changes neither
// canonicalization's output (both ignore trailing empty lines), so a long
// trailing run costs nothing; it is replayed only when content follows.
type blankRun struct{ n int }

// feed passes chunk on to write, holding back its trailing "\r\n" pairs.
// It reports false, writing nothing more, when the held run to be replayed
// exceeds limit.
func (h *blankRun) feed(chunk []byte, limit int, write func([]byte) error) (bool, error) {
	tail := trailingCRLFs(chunk)
	if tail == len(chunk) {
		h.n += tail
		return true, nil
	}
	if h.n > limit {
		return false, nil
	}
	for h.n > 0 {
		n := min(h.n, len(crlfs))
		if err := write(crlfs[:n]); err != nil {
			return true, err
		}
		h.n -= n
	}
	h.n = tail
	return true, write(chunk[:len(chunk)-tail])
}

// trailingCRLFs returns the length of the run of "\r\n" pairs ending b.
func trailingCRLFs(b []byte) int {
	n := len(b)
	for n >= 2 && b[n-2] == '\r' && b[n-1] == '\n' {
		n -= 2
	}
	return len(b) - n
}
