package spamc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
)

// writeCheck sends the SYMBOLS request: the command, the headers, a blank
// line and exactly size bytes of message. It then closes its half of the
// connection, as spamc does, so that spamd sees the end of the message
// even if it does not trust Content-length.
func writeCheck(conn net.Conn, user string, msg io.Reader, size int64) error {
	w := bufio.NewWriterSize(conn, 32<<10)
	head := "SYMBOLS SPAMC/1.5\r\nContent-length: " + strconv.FormatInt(size, 10) + "\r\n"
	if user != "" {
		head += "User: " + user + "\r\n"
	}
	if _, err := w.WriteString(head + "\r\n"); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	if err := copyExactly(w, msg, size); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("send message: %w", err)
	}
	if tc, ok := conn.(interface{ CloseWrite() error }); ok {
		if err := tc.CloseWrite(); err != nil {
			return fmt.Errorf("close sending side: %w", err)
		}
	}
	return nil
}

// copyExactly copies size bytes of msg and checks that msg has no more: a
// size that does not match the message would have spamd scan part of it,
// or wait for bytes that never come.
func copyExactly(w io.Writer, msg io.Reader, size int64) error {
	n, err := io.CopyN(w, msg, size)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("message has %d bytes, not the %d announced", n, size)
	}
	if err != nil {
		return fmt.Errorf("send message: %w", err)
	}
	var one [1]byte
	if k, _ := io.ReadFull(msg, one[:]); k > 0 {
		return fmt.Errorf("message is longer than the %d bytes announced", size)
	}
	return nil
}
