// Package miltertest drives a milter the way Postfix does, with go-milter's
// client: option negotiation, the macros Postfix sends at each stage, a
// transaction with several recipients, headers and a body. Tests and
// benchmarks use it against the real spamgate server over a real socket.
package miltertest

import (
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	gomilter "github.com/emersion/go-milter"
)

// Tx is one SMTP session with one message, as Postfix would report it.
type Tx struct {
	ClientIP   string // "" means 192.0.2.1
	ClientName string // Postfix's verified client name; "" means "unknown"
	Helo       string
	TLSVersion string // "" for a cleartext session
	Cipher     string
	CipherBits string
	AuthUser   string // SASL login, "" for none
	QueueID    string // sent from EOH on, as Postfix does
	From       string // without <>; "" is the null sender
	Rcpts      []string
	Headers    [][2]string // name, value (value as Postfix sends it: leading space kept)
	Body       string
	BodyReader io.Reader // when set, the body is read from it instead (large messages)
}

// Result is what the milter answered.
type Result struct {
	Rcpt  map[string]*gomilter.Action // per recipient
	Mods  []gomilter.ModifyAction     // header changes at end of message
	Final *gomilter.Action            // reply at end of message
}

// Refused returns "CODE TEXT" for a refused recipient, "" when accepted.
func (r *Result) Refused(rcpt string) string {
	a := r.Rcpt[rcpt]
	if a == nil || a.Code != gomilter.ActReplyCode {
		return ""
	}
	return fmt.Sprintf("%d %s", a.SMTPCode, a.SMTPText)
}

// Header returns the values of the headers the milter inserted or added
// with this name.
func (r *Result) Header(name string) []string {
	var out []string
	for _, m := range r.Mods {
		if (m.Code == gomilter.ActInsertHeader || m.Code == gomilter.ActAddHeader) && strings.EqualFold(m.HeaderName, name) {
			out = append(out, m.HeaderValue)
		}
	}
	return out
}

// Dial opens a milter session to addr ("host:port" over TCP, or a unix
// socket path starting with '/'), negotiating like Postfix.
func Dial(addr string) (*gomilter.ClientSession, error) {
	network := "tcp"
	if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	c := gomilter.NewClientWithOptions(network, addr, gomilter.ClientOptions{
		Dialer:       &net.Dialer{Timeout: 5 * time.Second},
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 10 * time.Second,
		// Within what a version-2 milter may use, so that the client
		// downgrades to go-milter's protocol version.
		ActionMask: gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine,
	})
	return c.Session()
}

// Run performs tx on a new session and closes it.
func Run(addr string, tx Tx) (*Result, error) {
	s, err := Dial(addr)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return RunOn(s, tx)
}

// RunOn performs tx on an open session (several messages may share one
// session, as in SMTP). Connect and HELO are sent only when tx.Helo is set.
func RunOn(s *gomilter.ClientSession, tx Tx) (*Result, error) {
	if err := connect(s, tx); err != nil {
		return nil, err
	}
	res := &Result{Rcpt: map[string]*gomilter.Action{}}
	if err := s.Macros(gomilter.CodeMail, "i", "", "{auth_authen}", tx.AuthUser); err != nil {
		return nil, err
	}
	if _, err := s.Mail("<"+tx.From+">", nil); err != nil {
		return nil, fmt.Errorf("MAIL: %w", err)
	}
	accepted := 0
	for _, rcpt := range tx.Rcpts {
		if err := s.Macros(gomilter.CodeRcpt, "i", "", "{rcpt_addr}", rcpt); err != nil {
			return nil, err
		}
		act, err := s.Rcpt("<"+rcpt+">", nil)
		if err != nil {
			return nil, fmt.Errorf("RCPT %s: %w", rcpt, err)
		}
		res.Rcpt[rcpt] = act
		if act.Code == gomilter.ActContinue {
			accepted++
		}
	}
	if accepted == 0 {
		// Postfix does not go to DATA without a recipient.
		return res, s.Abort()
	}
	return res, content(s, tx, res)
}

func connect(s *gomilter.ClientSession, tx Tx) error {
	if tx.Helo == "" {
		return nil
	}
	ip := tx.ClientIP
	if ip == "" {
		ip = "192.0.2.1"
	}
	name := tx.ClientName
	if name == "" {
		name = "unknown"
	}
	family := gomilter.FamilyInet
	if strings.Contains(ip, ":") {
		family = gomilter.FamilyInet6
	}
	if err := s.Macros(gomilter.CodeConn, "j", "mx.test", "{daemon_name}", "smtpd", "{client_addr}", ip, "{client_name}", name); err != nil {
		return err
	}
	if _, err := s.Conn(name, family, 25, ip); err != nil {
		return fmt.Errorf("CONNECT: %w", err)
	}
	var helo []string
	if tx.TLSVersion != "" {
		helo = append(helo, "{tls_version}", tx.TLSVersion, "{cipher}", tx.Cipher, "{cipher_bits}", tx.CipherBits)
	}
	if err := s.Macros(gomilter.CodeHelo, helo...); err != nil {
		return err
	}
	if _, err := s.Helo(tx.Helo); err != nil {
		return fmt.Errorf("HELO: %w", err)
	}
	return nil
}

// Headers sends tx's header fields and the end of the header, each with
// the queue id macro, as Postfix does.
func Headers(s *gomilter.ClientSession, tx Tx) error {
	for _, h := range tx.Headers {
		if err := s.Macros(gomilter.CodeHeader, "i", tx.QueueID); err != nil {
			return err
		}
		if _, err := s.HeaderField(h[0], h[1]); err != nil {
			return fmt.Errorf("header %s: %w", h[0], err)
		}
	}
	if err := s.Macros(gomilter.CodeEOH, "i", tx.QueueID); err != nil {
		return err
	}
	if _, err := s.HeaderEnd(); err != nil {
		return fmt.Errorf("EOH: %w", err)
	}
	return nil
}

func content(s *gomilter.ClientSession, tx Tx, res *Result) error {
	if err := Headers(s, tx); err != nil {
		return err
	}
	if err := s.Macros(gomilter.CodeEOB, "i", tx.QueueID); err != nil {
		return err
	}
	var body io.Reader = strings.NewReader(tx.Body)
	if tx.BodyReader != nil {
		body = tx.BodyReader
	}
	mods, act, err := s.BodyReadFrom(body)
	if err != nil {
		return fmt.Errorf("body: %w", err)
	}
	res.Mods, res.Final = mods, act
	return nil
}
