package engine

import (
	"context"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"

	"spamgate/authres"
	"spamgate/checks"
	"spamgate/dkim"
	"spamgate/dmarc"
	"spamgate/dnsbl"
	"spamgate/dnsx"
	"spamgate/iprev"
	"spamgate/policy"
	"spamgate/score"
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

	dnsbl     *future[dnsbl.Result]
	iprev     *future[iprev.Result]
	iprevRes  *iprev.Result // once waited for
	heloCheck *future[heloFacts]
	// tlsCounted: the session's TLS facts went into the metrics.
	tlsCounted bool
	// fresh says which facts the latest macro packet carried, so that the
	// stage they belong to can drop what an earlier packet left behind.
	fresh  freshFacts
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
	dmarcPre     *dmarc.Prefetcher // DMARC's DNS queries, started at MAIL and at From

	// The envelope lookups do not depend on the recipient; they are waited
	// for once, at the first RCPT that needs them. Each recipient's verdicts
	// are then decided from these results under that recipient's policy.
	waited    bool
	dnsblRes  *dnsbl.Result
	senderRes *checks.SenderDomainResult
	spfOut    *spf.Outcome
	dmarcOut  *dmarc.Result // the Author Domain's result that decided (the strictest)
	// dmarcDomain is the Author Domain of dmarcOut.
	dmarcDomain string

	accepted, refused int
	content           content
	// dmarcOptIn/OptOut: an accepted recipient's rule set dmarc_enforce
	// true/false. The whole message is refused or not at end of message, so
	// one opt-out keeps it (recorded only) for everyone.
	dmarcOptIn, dmarcOptOut bool
	quarantine              string // a reason to hold the message, "" for none
	spamFlag                bool   // tag the message as spam (X-Spam-Flag: YES)
	arSeen                  int    // Authentication-Results fields seen so far
	forged                  []int  // 1-based indexes of those carrying our authserv-id
	// deletions counts the header fields to delete (forged, spamFields);
	// past [milter] max_header_deletions the message is refused and no
	// more indexes are kept.
	deletions int

	decision   *decision    // the decision history's facts; nil when off (decisions.go)
	suspicious *[]string    // why greylisting counts the client suspicious; nil until asked
	levels     score.Levels // the score levels of the accepted recipients
	spamFields []fieldIndex // X-Spam-* fields from outside, deleted at end of message
	spamSeen   map[string]int
}

// fieldIndex names one header field: the Index-th (1-based) called Name.
type fieldIndex struct {
	name  string
	index int
}

// NewSession starts a session; ctx bounds everything it does, and every
// DNS query made under it counts against [dns] max_inflight_session: one
// message cannot make spamgate flood anyone's name servers.
func (e *Engine) NewSession(ctx context.Context, id string) *Session {
	ctx, cancel := context.WithCancel(dnsx.WithSessionLimit(ctx, e.cfg.DNS.MaxInflightSession))
	e.metrics.SessionStarted()
	return &Session{e: e, id: id, log: e.log.With("session", id), ctx: ctx, cancel: cancel}
}

// Close ends the session and every lookup it still has running.
func (s *Session) Close() {
	s.endMessage()
	s.cancel()
	s.e.metrics.SessionEnded()
}

// Connect records the client and starts the lookups that need only its address.
func (s *Session) Connect(c Client) {
	c.Addr = c.Addr.Unmap()
	s.client = c
	if !c.Addr.IsValid() || s.e.isInternal(c.Addr) {
		return
	}
	s.startIPRev(c.Addr)
	if s.e.dnsbl == nil {
		return
	}
	s.dnsbl = lookup(s, s.ctx, "dnsbl", func(ctx context.Context) dnsbl.Result {
		return s.e.dnsbl.Check(ctx, c.Addr)
	})
}

// freshFacts are the facts a macro packet carried.
type freshFacts struct{ tls, auth bool }

// Macros takes the values Postfix sends before each stage. go-milter keeps
// only the latest packet, so what matters later (TLS facts from HELO, the
// SASL login from MAIL) is kept here. Postfix leaves out macros without a
// value, so a fact is reset at its own stage when that stage's packet did
// not carry it (see Helo and Mail): after STARTTLS Postfix forgets the SASL
// login, and so must spamgate.
func (s *Session) Macros(m map[string]string) {
	s.fresh = freshFacts{}
	for k, v := range m {
		switch k {
		case "{tls_version}":
			s.tls.Version, s.fresh.tls = v, true
		case "{cipher}":
			s.tls.Cipher = v
		case "{cipher_bits}":
			s.tls.Bits, _ = strconv.Atoi(v)
		case "{auth_authen}":
			s.authUser, s.fresh.auth = v, true
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

// Helo records the HELO/EHLO name. The TLS facts are the HELO packet's:
// none there means cleartext, whatever an earlier packet said.
func (s *Session) Helo(name string) {
	if !s.fresh.tls {
		s.tls = TLS{}
	}
	s.helo = name
	s.startHelo(name)
}

// Mail starts a transaction and the lookups that need the sender.
func (s *Session) Mail(sender string) {
	if !s.fresh.auth {
		s.authUser = "" // no login in the MAIL packet: none in force
	}
	s.endMessage()
	ctx, cancel := context.WithCancel(s.ctx)
	m := &message{ctx: ctx, cancel: cancel, sender: sender, outbound: s.outbound()}
	s.msg = m
	s.startDecision(m)
	s.countTransaction()
	if m.outbound {
		return
	}
	if s.e.cfg.SenderDomain.Enabled {
		if d := checks.SenderDomain(sender); d != "" {
			m.senderDomain = lookup(s, ctx, "sender_domain", func(ctx context.Context) checks.SenderDomainResult {
				return checks.CheckSenderDomain(ctx, s.e.resolver, d)
			})
		}
	}
	if s.e.cfg.DMARC.Enabled {
		// The envelope domain is the SPF identifier DMARC aligns, and
		// usually the From domain as well.
		m.dmarcPre = dmarc.NewPrefetcher(ctx, s.e.resolver)
		m.dmarcPre.CacheOnly = dnsx.CacheOnly
		if d := checks.SenderDomain(sender); d != "" {
			m.dmarcPre.Prefetch(d)
		} else {
			m.dmarcPre.Prefetch(s.helo)
		}
	}
	if s.e.cfg.SPF.Enabled && s.client.Addr.IsValid() {
		req := spf.Request{IP: s.client.Addr, Helo: s.helo, Sender: sender, Receiver: s.receiver()}
		m.spf = lookup(s, ctx, "spf", func(ctx context.Context) spf.Outcome {
			return spf.Check(ctx, s.e.resolver, req)
		})
	}
}

// countTransaction counts the transaction, and the session's TLS once
// (admins look for senders stuck on legacy TLS versions).
func (s *Session) countTransaction() {
	direction := "inbound"
	if s.msg.outbound {
		direction = "outbound"
	}
	s.e.metrics.Transaction(direction)
	if !s.tlsCounted && !s.msg.outbound {
		s.tlsCounted = true
		s.e.metrics.InboundTLS(s.tls.Version, s.tls.Cipher)
	}
}

// outbound reports mail from an internal network or a SASL-authenticated
// client: inbound checks skip it. A client without a usable address
// (XCLIENT ADDR=[UNAVAILABLE], a unix-domain connect) is not trusted for
// lacking one; Postfix's non-SMTP mail comes as 127.0.0.1, which
// internal_networks covers by default.
func (s *Session) outbound() bool {
	return s.authUser != "" || s.outboundClient()
}

// outboundClient is outbound() as far as the client address tells (before MAIL).
func (s *Session) outboundClient() bool {
	return s.client.Addr.IsValid() && s.e.isInternal(s.client.Addr)
}

func (s *Session) receiver() string {
	if s.myHost != "" {
		return s.myHost
	}
	return s.e.cfg.Milter.AuthservID
}

// Rcpt decides one recipient: nil accepts it, a Reply refuses it. Only this
// recipient is affected; the others of the transaction go on. The
// recipient's policy rule is found first: a TLS requirement is decided
// without waiting for any lookup, then the envelope checks under the
// rule's thresholds, unless the rule skips them.
func (s *Session) Rcpt(rcpt string) *checks.Reply {
	m := s.msg
	if m == nil { // RCPT without MAIL cannot come from Postfix; be safe.
		s.Mail("")
		m = s.msg
	}
	known, validated := s.recipientVerdict(rcpt)
	if validated && known.Reply != nil {
		m.refused++
		s.logRefusal(rcpt, known, "")
		s.recordRcpt(rcpt, "", []checks.Verdict{known}, known.Reply)
		s.e.metrics.Reply("rcpt", known.Check, known.Reply.Code)
		return known.Reply
	}
	rule, unavailable := s.lookupRule(rcpt)
	if unavailable != nil {
		m.refused++
		v := checks.Verdict{Check: "policy", Reply: unavailable, Reason: "policy source unavailable"}
		s.recordRcpt(rcpt, "", []checks.Verdict{v}, unavailable)
		return unavailable
	}
	var set policy.Settings
	source := ""
	if rule != nil {
		set, source = rule.Settings, rule.Source
	}
	verdicts := s.verdicts(rcpt, set)
	if validated {
		verdicts = append([]checks.Verdict{known}, verdicts...)
	}
	var reply *checks.Reply
	for _, v := range verdicts {
		if v.Reply != nil {
			reply = v.Reply
			s.logRefusal(rcpt, v, source)
			break
		}
	}
	if reply == nil {
		m.accepted++
		s.arcRcpt(rcpt)
		s.levels(set)
		if set.DMARCEnforce != nil {
			m.dmarcOptIn = m.dmarcOptIn || *set.DMARCEnforce
			m.dmarcOptOut = m.dmarcOptOut || !*set.DMARCEnforce
		}
		if s.log.Enabled(s.ctx, slog.LevelDebug) { // the attributes cost allocations on every RCPT
			s.log.Debug("recipient accepted", s.attrs(slog.String("rcpt", rcpt), slog.String("rule", source))...)
		}
	} else {
		m.refused++
		s.e.metrics.Reply("rcpt", verdicts[len(verdicts)-1].Check, reply.Code)
	}
	s.recordRcpt(rcpt, source, verdicts, reply)
	return reply
}

// verdicts runs the checks for one recipient in order, stopping at the
// first refusal.
func (s *Session) verdicts(rcpt string, set policy.Settings) []checks.Verdict {
	m := s.msg
	if m.outbound {
		s.recordEnvelope()
		return nil // trusted: neither the TLS requirement nor the spam checks apply
	}
	var out []checks.Verdict
	if !s.tlsExempted() {
		v := checks.DecideTLS(rcpt, set, s.tlsFacts())
		if out = append(out, v); v.Reply != nil {
			return out
		}
	}
	if set.Skip != nil && *set.Skip {
		return append(out, checks.Verdict{Check: "policy", Reason: "skip: spam checks off for this recipient"})
	}
	s.waitEnvelope()
	if m.dnsblRes != nil {
		threshold := s.e.cfg.DNSBL.Threshold
		if set.DNSBLThreshold != nil {
			threshold = *set.DNSBLThreshold
		}
		v := checks.DecideDNSBL(*m.dnsblRes, s.client.Addr, threshold)
		if out = append(out, v); v.Reply != nil {
			return out
		}
	}
	if m.senderRes != nil {
		v := m.senderRes.Decide()
		if out = append(out, v); v.Reply != nil {
			return out
		}
	}
	if m.spfOut != nil {
		p := s.e.spf
		if set.SPFRejectFail != nil {
			p.RejectFail = *set.SPFRejectFail
		}
		v := checks.DecideSPF(*m.spfOut, p)
		if out = append(out, v); v.Reply != nil {
			return out
		}
	}
	if v, ok := s.greylistVerdict(rcpt, set); ok {
		out = append(out, v)
	}
	return out
}

func (s *Session) tlsFacts() policy.TLSFacts {
	return policy.TLSFacts{Version: s.tls.Version, Cipher: s.tls.Cipher, Bits: s.tls.Bits}
}

func (s *Session) logRefusal(rcpt string, v checks.Verdict, source string) {
	attrs := []slog.Attr{slog.String("rcpt", rcpt), slog.String("check", v.Check),
		slog.String("reply", v.Reply.String()), slog.String("reason", v.Reason)}
	if source != "" {
		attrs = append(attrs, slog.String("rule", source))
	}
	if v.Check == "tls" {
		attrs = append(attrs, slog.String("tls_version", s.tls.Version), slog.String("cipher", s.tls.Cipher),
			slog.Int("cipher_bits", s.tls.Bits))
	}
	s.log.Info("recipient refused", s.attrs(attrs...)...)
}

// waitEnvelope waits, once per message, for the client and sender lookups.
func (s *Session) waitEnvelope() {
	m := s.msg
	if m.waited {
		return
	}
	m.waited = true
	defer s.recordEnvelope()
	if s.dnsbl != nil {
		if r, ok := s.dnsbl.wait(m.ctx); ok {
			m.dnsblRes = &r
			s.logDNSBL(r)
		}
	}
	if m.senderDomain != nil {
		if r, ok := m.senderDomain.wait(m.ctx); ok {
			m.senderRes = &r
		}
	}
	if m.spf != nil {
		if o, ok := m.spf.wait(m.ctx); ok {
			m.spfOut = &o
		}
	}
	s.iprevResult()
}

func (s *Session) logDNSBL(r dnsbl.Result) {
	debug := s.log.Enabled(s.ctx, slog.LevelDebug)
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
		if level == slog.LevelDebug && !debug {
			continue
		}
		attrs := s.attrs(slog.String("zone", z.Zone), slog.String("status", z.Status.String()), slog.Float64("weight", z.Weight))
		if z.Err != nil {
			attrs = append(attrs, slog.String("error", z.Err.Error()))
		}
		s.log.Log(s.ctx, level, "dnsbl zone", attrs...)
	}
}

// Header sees each header field in order: for DKIM and DMARC, and to find
// forged Authentication-Results fields (those naming our authserv-id).
func (s *Session) Header(name, value string) {
	m := s.msg
	if m == nil {
		return
	}
	s.contentHeader(name, value)
	if len(name) > 7 && strings.EqualFold(name[:7], "X-Spam-") && s.e.cfg.Score.Enabled && !m.outbound {
		s.spamField(name)
	}
	if !strings.EqualFold(name, "Authentication-Results") {
		return
	}
	m.arSeen++
	if id, ok := authres.AuthservID(value); ok && authres.SameID(id, s.e.cfg.Milter.AuthservID) && s.deletion() {
		m.forged = append(m.forged, m.arSeen)
	}
}

// deletion counts one more header field to delete at end of message and
// reports whether it is still within [milter] max_header_deletions.
func (s *Session) deletion() bool {
	s.msg.deletions++
	return s.msg.deletions <= s.e.cfg.Milter.MaxHeaderDeletions
}

// replyTooManyForged refuses a message with more header fields to delete
// than max_header_deletions: each delete makes Postfix's cleanup rescan
// the header (thousands abort it), and no honest message carries dozens
// of fields claiming our own verdicts.
var replyTooManyForged = checks.Reply{Code: 550, Status: "5.7.1", Text: "Message carries too many forged authentication or spam header fields"}

// HeaderChange is one header edit at end of message.
type HeaderChange struct {
	Quarantine string `json:"quarantine,omitempty"` // not a header edit: hold the message in Postfix's hold queue, with this reason
	Delete     bool   `json:"delete,omitempty"`     // delete the Index-th field called Name (1-based)
	Change     bool   `json:"change,omitempty"`     // replace the Index-th field called Name with Value
	Index      int    `json:"index"`                // for inserts: the position (0 = top)
	Name       string `json:"name"`                 // header field name
	Value      string `json:"value,omitempty"`      // the value, without the leading space
}

// End finishes the transaction. It returns the header edits (deletions
// first, from the last field up so that indexes stay valid), or a reply
// refusing the message (a DMARC reject), in which case there are no edits.
func (s *Session) End() ([]HeaderChange, *checks.Reply) {
	m := s.msg
	if m == nil {
		return nil, nil
	}
	defer s.finishMessage()
	if m.deletions > s.e.cfg.Milter.MaxHeaderDeletions {
		s.log.Warn("message refused: too many forged header fields", s.attrs(slog.Int("fields", m.deletions),
			slog.Int("max_header_deletions", s.e.cfg.Milter.MaxHeaderDeletions))...)
		s.e.metrics.Reply("eom", "header_deletions", replyTooManyForged.Code)
		s.decisionEnd("header_deletions", &replyTooManyForged)
		return nil, &replyTooManyForged
	}
	var changes []HeaderChange
	for i := len(m.forged) - 1; i >= 0; i-- {
		changes = append(changes, HeaderChange{Delete: true, Index: m.forged[i], Name: "Authentication-Results"})
	}
	if len(m.forged) > 0 {
		s.log.Warn("removed forged Authentication-Results", s.attrs(slog.Int("count", len(m.forged)))...)
	}
	var reply *checks.Reply
	check := ""
	if m.outbound {
		for _, sig := range s.signatures() {
			changes = append(changes, HeaderChange{Name: "DKIM-Signature", Value: strings.TrimPrefix(sig, " ")})
		}
		changes = append(changes, s.arcSeal(m.ctx, "")...)
	} else {
		var inbound []HeaderChange
		inbound, check, reply = s.endInbound()
		changes = append(changes, inbound...)
	}
	s.log.Info("message", s.summary()...)
	s.countResults()
	if s.report != nil {
		s.report.Headers = changes
	}
	if reply != nil {
		s.log.Info("message refused", s.attrs(slog.String("check", check), slog.String("reply", reply.String()))...)
		s.e.metrics.Reply("eom", check, reply.Code)
		s.decisionEnd(check, reply)
		return nil, reply
	}
	return changes, nil
}

// endInbound authenticates and scores an inbound message: its header
// edits, or the refusal and the check that made it (DMARC or the score).
func (s *Session) endInbound() ([]HeaderChange, string, *checks.Reply) {
	m := s.msg
	s.waitEnvelope()
	ar, dkimResults, reply := s.authenticate()
	if reply != nil {
		return nil, "dmarc", reply
	}
	var changes []HeaderChange
	if m.quarantine != "" {
		changes = append(changes, HeaderChange{Quarantine: m.quarantine})
	}
	if s.e.cfg.Score.Enabled {
		ctx, cancel := context.WithTimeout(m.ctx, s.e.timeout)
		sheet := s.scoreSheet(ctx, dkimResults, m.spamFlag)
		edits, kill := s.applyScore(sheet)
		cancel()
		s.decisionScore(sheet)
		if kill != nil {
			return nil, "score", kill
		}
		changes = append(changes, edits...)
	} else if m.spamFlag {
		changes = append(changes, HeaderChange{Name: "X-Spam-Flag", Value: "YES"})
	}
	if !changesSealedFields(changes) {
		changes = append(changes, s.arcSeal(m.ctx, ar)...)
	}
	// Inserted last at the top, so it ends up first, above the X-Spam
	// fields: RFC 8601 section 5 wants it above the fields it vouches for.
	return append(changes, HeaderChange{Name: "Authentication-Results", Value: ar}), "", nil
}

// authenticate finishes DKIM, evaluates DMARC, and returns the
// Authentication-Results value and, when DMARC is enforced and says reject,
// the refusal.
func (s *Session) authenticate() (string, []dkim.Result, *checks.Reply) {
	m := s.msg
	var entries []authres.Entry
	if r := s.iprevResult(); r != nil {
		entries = append(entries, iprevEntry(r, s.client.Addr))
	}
	if o := m.spfOut; o != nil {
		entries = append(entries, checks.SPFAuthResult(*o, m.sender, s.helo))
	}
	dkimResults, dkimEntries := s.dkimResults()
	entries = append(entries, dkimEntries...)
	s.decisionDKIM(dkimResults)
	for _, r := range dkimResults {
		s.e.metrics.CheckResult("dkim", r.Result)
	}
	arcCtx, arcCancel := context.WithTimeout(m.ctx, s.e.timeout)
	entries = append(entries, s.arcEntries(arcCtx)...)
	arcCancel()
	var reply *checks.Reply
	if s.e.cfg.DMARC.Enabled {
		ctx, cancel := context.WithTimeout(m.ctx, s.e.timeout)
		var dmarcEntries []authres.Entry
		dmarcEntries, reply = s.dmarcVerdict(ctx, dkimResults)
		cancel()
		entries = append(entries, dmarcEntries...)
	}
	if s.report != nil {
		s.report.DKIM, s.report.DMARC = dkimResults, m.dmarcOut
	}
	return authres.Format(s.e.cfg.Milter.AuthservID, entries), dkimResults, reply
}

// spamField notes an X-Spam-* field from outside, to be deleted: only our
// own verdict may reach the user's filters.
func (s *Session) spamField(name string) {
	m := s.msg
	if !s.deletion() {
		return // refused at end of message; no need to keep counting names
	}
	if m.spamSeen == nil {
		m.spamSeen = map[string]int{}
	}
	key := strings.ToLower(name)
	m.spamSeen[key]++
	m.spamFields = append(m.spamFields, fieldIndex{name: name, index: m.spamSeen[key]})
}

func (s *Session) summary() []any {
	m := s.msg
	attrs := s.attrs(slog.Bool("outbound", m.outbound), slog.Int("accepted", m.accepted), slog.Int("refused", m.refused))
	if m.spfOut != nil {
		attrs = append(attrs, slog.String("spf", string(m.spfOut.Result)))
	}
	if m.dmarcOut != nil {
		attrs = append(attrs, slog.String("dmarc", m.dmarcOut.Result), slog.String("dmarc_policy", m.dmarcOut.Policy))
	}
	if s.tls.Version != "" {
		attrs = append(attrs, slog.String("tls", s.tls.Version))
	}
	return attrs
}

// Abort ends the transaction without a message (RSET, or the client left).
func (s *Session) Abort() { s.finishMessage() }

func (s *Session) endMessage() {
	if s.msg != nil {
		s.flushDecision()
		s.msg.content.abort()
		s.msg.cancel()
		s.msg = nil
	}
}

// finishMessage ends a transaction that Postfix finished or aborted. The
// queue id goes with it; it is not cleared at MAIL, where Postfix may
// already have sent the next one.
func (s *Session) finishMessage() {
	s.endMessage()
	s.queueID = ""
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

// countResults counts each check's result once per inbound message.
func (s *Session) countResults() {
	m, mt := s.msg, s.e.metrics
	if mt == nil || m.outbound {
		return
	}
	if m.spfOut != nil {
		mt.CheckResult("spf", string(m.spfOut.Result))
	}
	if m.dmarcOut != nil {
		mt.CheckResult("dmarc", m.dmarcOut.Result)
	}
	if m.dnsblRes != nil {
		res := "clean"
		if len(m.dnsblRes.Listed()) > 0 {
			res = "listed"
		}
		mt.CheckResult("dnsbl", res)
	}
	if s.iprevRes != nil {
		mt.CheckResult("iprev", string(s.iprevRes.Status))
	}
}
