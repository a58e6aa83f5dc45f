package history

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
)

// On disk (and in Redis) a record is one line:
//
//	line = crc(8 lower-case hex digits: CRC-32C of json) SP json LF
//
// JSON never holds a raw newline, so a line is a record and a damaged one
// (a torn write, a flipped bit, a file cut short) is found by its checksum
// and skipped alone: the lines after it still read. The format is plain
// text on purpose: an admin can grep it.

// MaxLineBytes bounds one encoded record: a reader skips longer lines (a
// record that large can only be damage or a hostile flood of recipients,
// which Postfix bounds well below this).
const MaxLineBytes = 1 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt is a line that is not a record: a bad checksum, JSON or frame.
var errCorrupt = errors.New("corrupt history record")

// appendLine encodes r as a line at the end of buf.
func appendLine(buf []byte, r *Record) ([]byte, error) {
	start := len(buf)
	buf = append(buf, "00000000 "...)
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // keeps addresses greppable; escaping is the renderer's job
	if err := enc.Encode(r); err != nil {
		return buf[:start], fmt.Errorf("encode history record: %w", err)
	}
	js := out.Bytes() // ends with '\n'
	buf = append(buf, js...)
	sum := crc32.Checksum(js[:len(js)-1], castagnoli)
	var h [4]byte
	h[0], h[1], h[2], h[3] = byte(sum>>24), byte(sum>>16), byte(sum>>8), byte(sum)
	hex.Encode(buf[start:start+8], h[:])
	return buf, nil
}

// decodeLine decodes one line (without its LF). Any damage is errCorrupt.
func decodeLine(line []byte) (Record, error) {
	var r Record
	if len(line) < 10 || len(line) > MaxLineBytes || line[8] != ' ' {
		return r, errCorrupt
	}
	var h [4]byte
	if _, err := hex.Decode(h[:], line[:8]); err != nil {
		return r, errCorrupt
	}
	want := uint32(h[0])<<24 | uint32(h[1])<<16 | uint32(h[2])<<8 | uint32(h[3])
	js := line[9:]
	if crc32.Checksum(js, castagnoli) != want {
		return r, errCorrupt
	}
	if err := json.Unmarshal(js, &r); err != nil {
		return Record{}, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return r, nil
}
