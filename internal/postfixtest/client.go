package postfixtest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/textproto"
	"strings"
)

// Mail is one SMTP transaction for Send.
type Mail struct {
	Source   string   // loopback IP to connect from, e.g. "127.0.0.2" for a listed client; "" lets the system choose
	Helo     string   // EHLO argument; "" sends "client.postfixtest.test"
	From     string   // envelope sender without angle brackets; "" is the null sender
	To       []string // envelope recipients
	Data     []byte   // header and body; LF or CRLF line ends; Send does the dot-stuffing
	StartTLS bool     // upgrade with STARTTLS (certificate not verified) and EHLO again
	// MaxTLSVersion caps the TLS version the client offers (tls.VersionTLS12
	// plays a client that cannot do TLS 1.3); 0 = Go's default.
	MaxTLSVersion uint16
}

// Reply is one SMTP reply. Code is 0 for a command that was not sent.
type Reply struct {
	Code     int
	Enhanced string // RFC 3463 code from the first line, e.g. "5.7.10"; "" when absent
	Text     string // the text after the code, lines joined with "\n" (Enhanced included)
}

func (r Reply) String() string {
	if r.Code == 0 {
		return "(not sent)"
	}
	return fmt.Sprintf("%d %s", r.Code, r.Text)
}

// Transcript holds the server's reply to each command of one Send.
type Transcript struct {
	Greeting Reply
	Ehlo     Reply // the last EHLO: after STARTTLS, the one inside TLS
	StartTLS Reply
	TLS      *tls.ConnectionState // nil for a cleartext session
	Mail     Reply
	Rcpt     []Reply // one per Mail.To, in order
	Data     Reply   // the reply to DATA: 354 to go on
	Message  Reply   // the reply to the final ".": 250 when the message was accepted
}

// QueueID returns the queue ID in Postfix's "250 2.0.0 Ok: queued as ID", or "".
func (t Transcript) QueueID() string {
	_, id, ok := strings.Cut(t.Message.Text, "queued as ")
	if !ok || t.Message.Code != 250 {
		return ""
	}
	return strings.TrimSpace(id)
}

func (t Transcript) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "greeting: %v\nehlo: %v\n", t.Greeting, firstLine(t.Ehlo))
	if t.StartTLS.Code != 0 {
		fmt.Fprintf(&b, "starttls: %v\n", t.StartTLS)
	}
	if t.TLS != nil {
		fmt.Fprintf(&b, "tls: %s %s\n", tls.VersionName(t.TLS.Version),
			tls.CipherSuiteName(t.TLS.CipherSuite))
	}
	fmt.Fprintf(&b, "mail: %v\n", t.Mail)
	for i, r := range t.Rcpt {
		fmt.Fprintf(&b, "rcpt %d: %v\n", i, r)
	}
	fmt.Fprintf(&b, "data: %v\nmessage: %v\n", t.Data, t.Message)
	return b.String()
}

func firstLine(r Reply) string {
	s := r.String()
	if first, _, ok := strings.Cut(s, "\n"); ok {
		return first + " ..."
	}
	return s
}

// Send runs one SMTP transaction against addr and reports every reply. SMTP refusals are
// not errors: they are recorded in the Transcript, and Send stops where a real client
// would (after a refused greeting, EHLO, STARTTLS or MAIL, when no recipient was accepted,
// or after a refused DATA), then says QUIT. The error reports network, TLS and protocol
// failures; the Transcript then holds the replies received until then. Cancelling ctx
// closes the connection.
func Send(ctx context.Context, addr string, m Mail) (Transcript, error) {
	var tr Transcript
	var d net.Dialer
	if m.Source != "" {
		ip := net.ParseIP(m.Source)
		if ip == nil || !ip.IsLoopback() {
			// Tests may only use loopback addresses; anything else is a mistake.
			return tr, fmt.Errorf("source address %q: not a loopback IP", m.Source)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return tr, fmt.Errorf("connect to %s: %w", addr, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()

	c := textproto.NewConn(conn)
	if tr.Greeting, err = readReply(c, "greeting"); err != nil || tr.Greeting.Code != 220 {
		return tr, err
	}
	helo := m.Helo
	if helo == "" {
		helo = "client.postfixtest.test"
	}
	if tr.Ehlo, err = command(c, "EHLO", "EHLO %s", helo); err != nil || tr.Ehlo.Code != 250 {
		return tr, quit(c, err)
	}
	if m.StartTLS {
		if tr.StartTLS, err = command(c, "STARTTLS", "STARTTLS"); err != nil || tr.StartTLS.Code != 220 {
			return tr, quit(c, err)
		}
		host, _, _ := net.SplitHostPort(addr)
		tc := tls.Client(conn, &tls.Config{
			ServerName:         host,
			InsecureSkipVerify: true, // the test server's certificate is self-signed and throwaway
			MaxVersion:         m.MaxTLSVersion,
		})
		if err := tc.HandshakeContext(ctx); err != nil {
			return tr, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		state := tc.ConnectionState()
		tr.TLS = &state
		c = textproto.NewConn(tc)
		if tr.Ehlo, err = command(c, "EHLO", "EHLO %s", helo); err != nil || tr.Ehlo.Code != 250 {
			return tr, quit(c, err)
		}
	}
	if tr.Mail, err = command(c, "MAIL", "MAIL FROM:<%s>", m.From); err != nil || tr.Mail.Code/100 != 2 {
		return tr, quit(c, err)
	}
	accepted := 0
	for _, to := range m.To {
		r, err := command(c, "RCPT", "RCPT TO:<%s>", to)
		tr.Rcpt = append(tr.Rcpt, r)
		if err != nil {
			return tr, err
		}
		if r.Code/100 == 2 {
			accepted++
		}
	}
	if accepted == 0 {
		return tr, quit(c, nil)
	}
	if tr.Data, err = command(c, "DATA", "DATA"); err != nil || tr.Data.Code != 354 {
		return tr, quit(c, err)
	}
	w := c.DotWriter() // turns LF into CRLF, dot-stuffs, and ends with "."
	if _, err := w.Write(m.Data); err != nil {
		return tr, fmt.Errorf("send message data: %w", err)
	}
	if err := w.Close(); err != nil {
		return tr, fmt.Errorf("end message data: %w", err)
	}
	if tr.Message, err = readReply(c, "end of data"); err != nil {
		return tr, err
	}
	return tr, quit(c, nil)
}

// command sends one command line and reads the reply; what names it in errors.
func command(c *textproto.Conn, what, format string, args ...any) (Reply, error) {
	if err := c.PrintfLine(format, args...); err != nil {
		return Reply{}, fmt.Errorf("send %s: %w", what, err)
	}
	return readReply(c, what)
}

// readReply reads one (possibly multi-line) reply. Any code is accepted here: the caller
// decides what it means.
func readReply(c *textproto.Conn, what string) (Reply, error) {
	code, text, err := c.ReadResponse(0)
	if err != nil {
		return Reply{}, fmt.Errorf("read reply to %s: %w", what, err)
	}
	return Reply{Code: code, Enhanced: enhancedCode(text), Text: text}, nil
}

// enhancedCode returns the RFC 3463 status code (class.subject.detail, e.g. "5.7.10")
// that starts text, or "".
func enhancedCode(text string) string {
	first, _, _ := strings.Cut(text, " ")
	first, _, _ = strings.Cut(first, "\n")
	parts := strings.Split(first, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.Contains("245", parts[0]) {
		return ""
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return ""
		}
	}
	return first
}

// quit ends the session politely; err, when not nil, is returned unchanged, since the
// session is broken anyway and its QUIT would fail too.
func quit(c *textproto.Conn, err error) error {
	if err != nil {
		return err
	}
	if err := c.PrintfLine("QUIT"); err != nil {
		return fmt.Errorf("send QUIT: %w", err)
	}
	if _, _, err := c.ReadResponse(221); err != nil {
		return fmt.Errorf("read reply to QUIT: %w", err)
	}
	return nil
}
