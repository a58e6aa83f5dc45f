package postfixtest

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// Message is one message as the sink received it.
type Message struct {
	File       string   // the file smtp-sink wrote
	ClientAddr string   // the delivering client's IP address
	Helo       string   // its EHLO/HELO argument
	From       string   // envelope sender without the angle brackets; "" for the null sender
	To         []string // envelope recipients, in RCPT order
	MailArgs   string   // the whole MAIL FROM argument, ESMTP parameters included
	// Raw is the header and body as they crossed the wire, CRLF line ends included, with
	// the dot-stuffing undone. (smtp-sink drops every CR when it saves a message; Raw puts
	// them back, which restores the wire form because an SMTP client, Postfix included,
	// sends every line end as CRLF.)
	Raw []byte
	// Header is Raw's header, parsed; nil when it does not parse.
	Header mail.Header
}

// Body returns the part of Raw after the header, or nil when Raw has no header/body
// separator.
func (m Message) Body() []byte {
	if _, body, ok := bytes.Cut(m.Raw, []byte("\r\n\r\n")); ok {
		return body
	}
	return nil
}

// parseDump parses an smtp-sink dump file: X-Client-Addr, X-Client-Proto, X-Helo-Args,
// X-Mail-Args and X-Rcpt-Args records, a three-line Received header of smtp-sink's own,
// then the message as received and one extra empty line.
func parseDump(data []byte) (Message, error) {
	var m Message
	rest := data
	// next cuts the next line off rest.
	next := func() (string, bool) {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return "", false
		}
		line := string(rest[:i])
		rest = rest[i+1:]
		return line, true
	}
	for {
		line, ok := next()
		if !ok {
			return m, errors.New("no Received record: not an smtp-sink dump")
		}
		name, value, _ := strings.Cut(line, ": ")
		switch name {
		case "X-Client-Addr":
			m.ClientAddr = value
		case "X-Client-Proto":
		case "X-Helo-Args":
			m.Helo = value
		case "X-Mail-Args":
			m.MailArgs = value
			m.From = envelopeAddr(value)
		case "X-Rcpt-Args":
			m.To = append(m.To, envelopeAddr(value))
		case "Received":
			// Two continuation lines ("\tby ...", "\tdate") end smtp-sink's records.
			for range 2 {
				if _, ok := next(); !ok {
					return m, errors.New("truncated Received record")
				}
			}
			// The final "." line leaves its line end behind: one "\n" too many.
			lf := bytes.TrimSuffix(rest, []byte("\n"))
			m.Raw = bytes.ReplaceAll(lf, []byte("\n"), []byte("\r\n"))
			if msg, err := mail.ReadMessage(bytes.NewReader(m.Raw)); err == nil {
				m.Header = msg.Header
			}
			return m, nil
		default:
			return m, fmt.Errorf("unexpected record %q", line)
		}
	}
}

// envelopeAddr takes the address out of a MAIL FROM or RCPT TO argument such as
// "<a@example.com> SIZE=123".
func envelopeAddr(arg string) string {
	addr, _, _ := strings.Cut(arg, " ")
	return strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
}
