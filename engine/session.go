package engine

import (
	"context"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"

	"spamgate/authres"
	"spamgate/checks"
	"spamgate/dnsbl"
	"spamgate/spf"
)

// Client is what Postfix tells about the SMTP client at connect.
type Client struct {
	Addr     netip.Addr `json:"addr"` // invalid for mail that did not come over SMTP
	Port     uint16     `json:"port"`
	Hostname string     `json:"hostname"` // Postfix's verified client name, or "unknown"
}

// TLS is what Postfix's macros say about the session's encryption.
type TLS struct {
	Version string `json:"version"` // {tls_version}, e.g. "TLSv1.3"; "" for cleartext
	Cipher  string `json:"cipher"`  // {cipher}
	Bits    int    `json:"bits"`    // {cipher_bits}
}

// Session is one SMTP session (one milter connection). Its methods follow
// the SMTP dialogue and are called from one goroutine at a time.
type Session struct {
	e      *Engine
	id     string
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	client   Client
	helo     string
	tls      TLS
	authUser string // {auth_authen}: SASL login name
	myHost   string // j: Postfix's myhostname, for SPF's %{r}
	queueID  string // i: empty until Postfix has accepted a recipient

	dnsbl  *future[dnsbl.Result]
	msg    *message
	report *Report // nil unless explain asked for one
}

// message is the state of one mail transaction (MAIL … end of message).
type message struct {
	ctx      context.Context
	cancel   context.CancelFunc
	sender   string
	outbound bool

	senderDomain *future[checks.SenderDomainResult]
	spf          *future[spf.Outcome]

	// The envelope checks do not depend on the recipient; they are waited for
	// once, at the first RCPT, and their verdicts reused for the others.
	decided  bool
	verdicts []checks.Verdict
	spfOut   *spf.Outcome

	accepted, refused int
	arSeen            int   // Authentication-Results fields seen so far
	forged            []int // 1-based indexes of those carrying our authserv-id
}

// NewSession starts a session; ctx bounds everything it does.
func (e *Engine) NewSession(ctx context.Context, id string) *Session {
	ctx, cancel := context.WithCancel(ctx)
	return &Session{e: e, id: id, log: e.log.With("session", id), ctx: ctx, cancel: cancel}
}

// Close ends the session and every lookup it still has running.
func (s *Session) Close() {
	s.endMessage()
	s.cancel()
}

// Connect records the client and starts the lookups that need only its address.
func (s *Session) Connect(c Client) {
	c.Addr = c.Addr.Unmap()
	s.client = c
	if !c.Addr.IsValid() || s.e.isInternal(c.Addr) || s.e.dnsbl == nil {
		return
	}
	s.dnsbl = start(func() dnsbl.Result {
		ctx, cancel := context.WithTimeout(s.ctx, s.e.timeout)
		defer cancel()
		return s.e.dnsbl.Check(ctx, c.Addr)
	})
}

// Macros takes the values Postfix sends before each stage. go-milter keeps
// only the latest packet, so what matters later (TLS facts from HELO, the
// SASL login from MAIL) is kept here.
func (s *Session) Macros(m map[string]string) {
	for k, v := range m {
		switch k {
		case "{tls_version}":
			s.tls.Version = v
		case "{cipher}":
			s.tls.Cipher = v
		case "{cipher_bits}":
			s.tls.Bits, _ = strconv.Atoi(v)
		case "{auth_authen}":
			s.authUser = v
		case "i":
			if v != "" {
				s.queueID = v
			}
		case "j":
			s.myHost = v
		case "{client_addr}":
			if !s.client.Addr.IsValid() {
				s.client.Addr, _ = netip.ParseAddr(v)
			}
		}
	}
}

// Helo records the HELO/EHLO name.
func (s *Session) Helo(name string) { s.helo = name }

// Mail starts a transaction and the lookups that need the sender.
func (s *Session) Mail(sender string) {
	s.endMessage()
	ctx, cancel := context.WithCancel(s.ctx)
	m := &message{ctx: ctx, cancel: cancel, sender: sender, outbound: s.outbound()}
	s.msg = m
	if m.outbound {
		return
	}
	if s.e.cfg.SenderDomain.Enabled {
		if d := checks.SenderDomain(sender); d != "" {
			m.senderDomain = start(func() checks.SenderDomainResult {
				ctx, cancel := context.WithTimeout(ctx, s.e.timeout)
				defer cancel()
				return checks.CheckSenderDomain(ctx, s.e.resolver, d)
			})
		}
	}
	if s.e.cfg.SPF.Enabled && s.client.Addr.IsValid() {
		req := spf.Request{IP: s.client.Addr, Helo: s.helo, Sender: sender, Receiver: s.receiver()}
		m.spf = start(func() spf.Outcome {
			ctx, cancel := context.WithTimeout(ctx, s.e.timeout)
			defer cancel()
			return spf.Check(ctx, s.e.resolver, req)
		})
	}
}

// outbound reports mail from an internal network or a SASL-authenticated
// client, or local mail that did not come over SMTP: inbound checks skip it.
func (s *Session) outbound() bool {
	return s.authUser != "" || !s.client.Addr.IsValid() || s.e.isInternal(s.client.Addr)
}

func (s *Session) receiver() string {
	if s.myHost != "" {
		return s.myHost
	}
	return s.e.cfg.Milter.AuthservID
}

// Rcpt decides one recipient: nil accepts it, a Reply refuses it. Only this
// recipient is affected; the others of the transaction go on.
func (s *Session) Rcpt(rcpt string) *checks.Reply {
	m := s.msg
	if m == nil { // RCPT without MAIL cannot come from Postfix; be safe.
		s.Mail("")
		m = s.msg
	}
	if m.outbound {
		m.accepted++
		s.recordEnvelope()
		s.recordRcpt(rcpt, nil, nil)
		return nil
	}
	s.decideEnvelope()
	for _, v := range m.verdicts {
		if v.Reply != nil {
			m.refused++
			s.log.Info("recipient refused", s.attrs(slog.String("rcpt", rcpt),
				slog.String("check", v.Check), slog.String("reply", v.Reply.String()), slog.String("reason", v.Reason))...)
			s.recordRcpt(rcpt, m.verdicts, v.Reply)
			return v.Reply
		}
	}
	m.accepted++
	s.log.Debug("recipient accepted", s.attrs(slog.String("rcpt", rcpt))...)
	s.recordRcpt(rcpt, m.verdicts, nil)
	return nil
}

// decideEnvelope waits for the client and sender lookups, in the order
// Postfix's own restrictions would apply them: client, then sender.
func (s *Session) decideEnvelope() {
	m := s.msg
	if m.decided {
		return
	}
	m.decided = true
	defer s.recordEnvelope()
	if s.dnsbl != nil {
		if r, ok := s.dnsbl.wait(m.ctx); ok {
			m.verdicts = append(m.verdicts, checks.DecideDNSBL(r, s.client.Addr, s.e.cfg.DNSBL.Threshold))
			s.logDNSBL(r)
			if s.report != nil {
				s.report.DNSBL = &r
			}
		}
	}
	if m.senderDomain != nil {
		if r, ok := m.senderDomain.wait(m.ctx); ok {
			m.verdicts = append(m.verdicts, r.Decide())
			if s.report != nil {
				s.report.SenderDomain = &r
			}
		}
	}
	if m.spf != nil {
		if o, ok := m.spf.wait(m.ctx); ok {
			m.spfOut = &o
			m.verdicts = append(m.verdicts, checks.DecideSPF(o, s.e.spf))
		}
	}
}

func (s *Session) logDNSBL(r dnsbl.Result) {
	for _, z := range r.Zones {
		level := slog.LevelDebug
		switch z.Status {
		case dnsbl.Listed:
			level = slog.LevelInfo
		case dnsbl.Blocked:
			// "Query blocked" or an answer outside 127/8: never a listing,
			// but the admin must learn that the list refuses to answer.
			level = slog.LevelWarn
		}
		attrs := s.attrs(slog.String("zone", z.Zone), slog.String("status", z.Status.String()), slog.Float64("weight", z.Weight))
		if z.Err != nil {
			attrs = append(attrs, slog.String("error", z.Err.Error()))
		}
		s.log.Log(s.ctx, level, "dnsbl zone", attrs...)
	}
}

// Header sees each header field in order, to find forged
// Authentication-Results fields (those naming our authserv-id).
func (s *Session) Header(name, value string) {
	m := s.msg
	if m == nil || !strings.EqualFold(name, "Authentication-Results") {
		return
	}
	m.arSeen++
	if id, ok := authres.AuthservID(value); ok && authres.SameID(id, s.e.cfg.Milter.AuthservID) {
		m.forged = append(m.forged, m.arSeen)
	}
}

// HeaderChange is one header edit at end of message.
type HeaderChange struct {
	Delete bool   `json:"delete,omitempty"` // delete the Index-th field called Name (1-based)
	Index  int    `json:"index"`            // for inserts: the position (0 = top)
	Name   string `json:"name"`             // header field name
	Value  string `json:"value,omitempty"`  // the value, without the leading space
}

// End finishes the transaction and returns the header edits, deletions
// first, from the last field up so that indexes stay valid.
func (s *Session) End() []HeaderChange {
	m := s.msg
	if m == nil {
		return nil
	}
	defer s.endMessage()
	var changes []HeaderChange
	for i := len(m.forged) - 1; i >= 0; i-- {
		changes = append(changes, HeaderChange{Delete: true, Index: m.forged[i], Name: "Authentication-Results"})
	}
	if len(m.forged) > 0 {
		s.log.Warn("removed forged Authentication-Results", s.attrs(slog.Int("count", len(m.forged)))...)
	}
	if !m.outbound {
		s.decideEnvelope()
		changes = append(changes, HeaderChange{Name: "Authentication-Results", Value: s.authResults()})
	}
	s.log.Info("message", s.summary()...)
	if s.report != nil {
		s.report.Headers = changes
	}
	return changes
}

func (s *Session) authResults() string {
	var entries []authres.Entry
	if o := s.msg.spfOut; o != nil {
		entries = append(entries, checks.SPFAuthResult(*o, s.msg.sender, s.helo))
	}
	return authres.Format(s.e.cfg.Milter.AuthservID, entries)
}

func (s *Session) summary() []any {
	m := s.msg
	attrs := s.attrs(slog.Bool("outbound", m.outbound), slog.Int("accepted", m.accepted), slog.Int("refused", m.refused))
	if m.spfOut != nil {
		attrs = append(attrs, slog.String("spf", string(m.spfOut.Result)))
	}
	if s.tls.Version != "" {
		attrs = append(attrs, slog.String("tls", s.tls.Version))
	}
	return attrs
}

// Abort ends the transaction without a message (RSET, or the client left).
func (s *Session) Abort() { s.endMessage() }

func (s *Session) endMessage() {
	if s.msg != nil {
		s.msg.cancel()
		s.msg = nil
	}
	s.queueID = "" // the next transaction gets its own queue id
}

// attrs gives the attributes every log line of a decision carries.
func (s *Session) attrs(extra ...slog.Attr) []any {
	out := make([]any, 0, 4+len(extra))
	if s.queueID != "" {
		out = append(out, slog.String("queue_id", s.queueID))
	}
	if s.client.Addr.IsValid() {
		out = append(out, slog.String("client", s.client.Addr.String()))
	}
	if s.msg != nil {
		out = append(out, slog.String("sender", s.msg.sender))
	}
	for _, a := range extra {
		out = append(out, a)
	}
	return out
}
