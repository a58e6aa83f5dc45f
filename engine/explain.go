package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
)

// ExplainRequest is one transaction to explain, as `spamgate explain`
// takes it on its command line and the admin console's POST
// /api/v1/explain as JSON (the field names are the flags' names).
type ExplainRequest struct {
	Client string `json:"client"` // client IP address (required)
	Helo   string `json:"helo,omitempty"`
	// TLS is the session's TLS as VERSION[:BITS[:CIPHER]], e.g.
	// "TLSv1.3:256"; "" for cleartext.
	TLS  string   `json:"tls,omitempty"`
	Auth string   `json:"auth,omitempty"` // SASL login name: makes the session outbound
	From string   `json:"from,omitempty"` // envelope sender; "" for the null sender
	To   []string `json:"to"`
	// Message is the message's header (a whole message may be given: the
	// body is ignored), passed as Postfix would; "" gives a Subject only.
	Message string `json:"message,omitempty"`
}

// MaxExplainHeader bounds the header an explain request may carry.
const MaxExplainHeader = 1 << 20

// Explain runs one transaction through e, the very Session code that
// serves Postfix, and returns what every check found and what every
// recipient would be told. The caller bounds ctx.
func (e *Engine) Explain(ctx context.Context, req ExplainRequest) (*Report, error) {
	ip, err := netip.ParseAddr(req.Client)
	if err != nil {
		return nil, errors.New("client: want an IP address")
	}
	if len(req.To) == 0 {
		return nil, errors.New("to: at least one recipient")
	}
	macros, err := TLSMacros(req.TLS)
	if err != nil {
		return nil, err
	}
	if req.Auth != "" {
		macros["{auth_authen}"] = req.Auth
	}
	headers, err := ParseHeader(strings.NewReader(req.Message))
	if err != nil {
		return nil, err
	}
	if len(headers) == 0 {
		headers = [][2]string{{"Subject", " explain"}}
	}
	if bl := e.DNSBL(); bl != nil && !e.zonesKnown() {
		bl.CheckHealth(ctx) // serve has done this before its first session
	}
	rep := &Report{}
	s := e.NewSession(ctx, "explain")
	defer s.Close()
	s.Record(rep)
	s.Macros(macros)
	s.Connect(Client{Addr: ip, Hostname: "unknown"})
	s.Helo(req.Helo)
	s.Mail(req.From)
	accepted := 0
	for _, rcpt := range req.To {
		if s.Rcpt(rcpt) == nil {
			accepted++
		}
	}
	if accepted > 0 {
		for _, h := range headers {
			s.Header(h[0], h[1])
		}
		s.EndHeaders()
		s.End()
	}
	return rep, nil
}

// TLSMacros turns "TLSv1.3:256:TLS_AES_256_GCM_SHA384" into Postfix's macros.
func TLSMacros(spec string) (map[string]string, error) {
	m := map[string]string{}
	if spec == "" {
		return m, nil
	}
	parts := strings.SplitN(spec, ":", 3)
	m["{tls_version}"] = parts[0]
	if len(parts) > 1 {
		if _, err := strconv.Atoi(parts[1]); err != nil {
			return nil, fmt.Errorf("tls %q: bits must be a number", spec)
		}
		m["{cipher_bits}"] = parts[1]
	}
	if len(parts) > 2 {
		m["{cipher}"] = parts[2]
	}
	return m, nil
}

// ParseHeader reads the header fields of a message (up to
// MaxExplainHeader bytes), values with their leading space as Postfix
// sends them to spamgate.
func ParseHeader(r io.Reader) ([][2]string, error) {
	tr := textproto.NewReader(bufio.NewReader(io.LimitReader(r, MaxExplainHeader)))
	var out [][2]string
	for {
		line, err := tr.ReadContinuedLineBytes()
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("message header: %w", err)
		}
		if len(line) == 0 {
			return out, nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil, fmt.Errorf("message header line without a colon: %q", line)
		}
		out = append(out, [2]string{string(name), string(value)})
	}
}

// zonesKnown reports whether every DNSBL zone's health has been checked:
// a running engine's monitor has done it, a fresh one (the CLI) has not.
func (e *Engine) zonesKnown() bool {
	for _, z := range e.cfg.DNSBL.Zones {
		if _, known := e.dnsbl.Healthy(z.Name); !known {
			return false
		}
	}
	return true
}
