package socketmap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Netstring errors. Both are protocol errors: the stream cannot be resynchronised
// after them, so the connection must be closed.
var (
	errFormat  = errors.New("malformed netstring")
	errTooLong = errors.New("netstring too long")
)

// readNetstring reads one netstring ("LEN:DATA,") from r and returns DATA, which may be
// at most limit bytes. It returns io.EOF only when r ends cleanly before a netstring
// begins; a stream that ends inside one gives io.ErrUnexpectedEOF.
func readNetstring(r *bufio.Reader, limit int) ([]byte, error) {
	n, err := readLength(r, limit)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, unexpected(err)
	}
	if buf[n] != ',' {
		return nil, fmt.Errorf("%w: byte %q after %d bytes of data, want ','", errFormat, buf[n], n)
	}
	return buf[:n], nil
}

// readLength reads "LEN:" and returns LEN. The netstring definition forbids leading
// zeros ("[len] begins with <30> exactly when [string] is empty"); the length is
// checked against limit digit by digit, so a huge LEN never overflows.
func readLength(r *bufio.Reader, limit int) (int, error) {
	n, digits := 0, 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			if digits == 0 && errors.Is(err, io.EOF) {
				return 0, io.EOF
			}
			return 0, unexpected(err)
		}
		switch {
		case c == ':' && digits > 0:
			return n, nil
		case c < '0' || c > '9':
			return 0, fmt.Errorf("%w: byte %q in length", errFormat, c)
		case digits > 0 && n == 0:
			return 0, fmt.Errorf("%w: leading zero in length", errFormat)
		}
		n = n*10 + int(c-'0')
		digits++
		if n > limit {
			return 0, fmt.Errorf("%w: length exceeds %d", errTooLong, limit)
		}
	}
}

// unexpected turns the end of the stream inside a netstring into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendNetstring appends data as a netstring to dst.
func appendNetstring(dst []byte, data string) []byte {
	dst = strconv.AppendInt(dst, int64(len(data)), 10)
	dst = append(dst, ':')
	dst = append(dst, data...)
	return append(dst, ',')
}
