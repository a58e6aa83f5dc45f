package engine

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"time"

	"spamgate/authres"
	"spamgate/checks"
	"spamgate/dkim"
	"spamgate/dmarc"
	"spamgate/dmarcreport"
	"spamgate/dnsx"
)

// content is what a transaction needs of the message itself: DKIM
// verification (inbound) or signing (outbound), fed as Postfix streams the
// header fields and body chunks, and the From field for DMARC and for
// choosing the signing keys. The body is never kept.
type content struct {
	verifier *dkim.Verifier
	signer   *dkim.Signer
	// from is the first Author Domain (the signing domain of outbound mail);
	// fromDomains are the distinct domains of the From fields judged (see
	// fromField), at most [dmarc] max_from_domains + 1.
	from          string
	fromDomains   []string
	fromMalformed bool        // a From field did not parse strictly
	froms         int         // how many From fields
	fields        [][2]string // outbound only: kept until the keys are chosen at end of headers
	// headerBytes counts the header section, against [milter] max_header_bytes.
	headerBytes int64
	unsigned    bool               // outbound: the header outgrew the limit, the message goes unsigned
	cancel      context.CancelFunc // ends the verifier's lookup deadline
	arc         arcState           // the ARC chain (arc.go)

	// For the spam score.
	messageID, date bool
	subject         string // the Subject value, for subject tagging
	subjects        int
	raw             *bytes.Buffer // the message for spamd, nil when not wanted or too big
	rawTooBig       bool
}

// abort stops verification and signing of a message that will not be
// finished (RSET, a refusal, a lost connection): their goroutines must not
// wait for a body that never comes. After End they are nil already.
func (c *content) abort() {
	if c.cancel != nil {
		c.cancel()
	}
	if c.verifier != nil {
		c.verifier.Abort()
		c.verifier = nil
	}
	if c.signer != nil {
		c.signer.Abort()
		c.signer = nil
	}
}

// contentHeader feeds one header field, as Postfix sent it (leading space
// kept, folded lines joined with "\n").
func (s *Session) contentHeader(name, value string) {
	m := s.msg
	c := &m.content
	switch {
	case isFrom(name):
		s.fromField(value)
	case strings.EqualFold(name, "Message-ID"):
		c.messageID = true
	case strings.EqualFold(name, "Date"):
		c.date = true
	case strings.EqualFold(name, "Subject"):
		c.subjects++
		c.subject = value
	}
	c.headerBytes += int64(len(name) + len(value) + 3)
	s.arcHeader(name, value)
	if m.outbound {
		s.keepForSigning(name, value)
		return
	}
	s.rawHeader(name, value)
	if !s.e.cfg.DKIM.Enabled {
		return
	}
	if m.content.verifier == nil {
		// Key lookups get the check timeout like every other lookup; the
		// message context (cancelled at its end) is the parent.
		ctx, cancel := context.WithTimeout(m.ctx, s.e.timeout)
		m.content.cancel = cancel
		m.content.verifier = dkim.NewVerifier(ctx, s.e.resolver.LookupTXT, s.e.cfg.DKIM.MaxSignatures)
		m.content.verifier.Limit(s.e.cfg.Milter.MaxHeaderBytes, s.e.cfg.DKIM.MaxBodyBytes)
		m.content.verifier.VerifyInline(dkimInlineBody, dnsx.CacheOnly)
	}
	m.content.verifier.Header(name, value)
}

// dkimInlineBody is the largest body verified on the session's goroutine
// at end of message, held until then, when the signing keys are cached
// (most mail, from repeat senders): it saves the verification goroutine and
// its hand-overs. It bounds what a session holds for it.
const dkimInlineBody = 64 << 10

// keepForSigning keeps an outbound header field until the signing keys are
// chosen, up to [milter] max_header_bytes: a bigger header goes unsigned.
func (s *Session) keepForSigning(name, value string) {
	c := &s.msg.content
	switch {
	case s.e.keys == nil || c.unsigned:
	case c.headerBytes > s.e.cfg.Milter.MaxHeaderBytes:
		c.fields, c.unsigned = nil, true
		s.log.Warn("outbound mail not signed: header section over max_header_bytes",
			s.attrs(slog.Int64("max_header_bytes", s.e.cfg.Milter.MaxHeaderBytes))...)
	default:
		c.fields = append(c.fields, [2]string{name, value})
	}
}

// EndHeaders is the end of the header: verification reads on into the body;
// outbound mail gets its signers, now that From is known.
func (s *Session) EndHeaders() {
	m := s.msg
	if m == nil {
		return
	}
	if v := m.content.verifier; v != nil {
		v.EndHeaders()
	}
	s.arcEndHeaders()
	s.rawAppend("\r\n")
	if !m.outbound || s.e.keys == nil || m.content.unsigned {
		return
	}
	domain := m.content.from
	keys := s.e.keys.Keys(domain)
	if len(keys) == 0 {
		s.log.Info("outbound mail not signed: no DKIM key for its From domain", s.attrs(slog.String("from_domain", domain))...)
		m.content.fields = nil
		return
	}
	sg, err := dkim.NewSigner(keys)
	if err != nil {
		s.log.Error("dkim signer", s.attrs(slog.String("error", err.Error()))...)
		return
	}
	for _, f := range m.content.fields {
		sg.Header(f[0], f[1])
	}
	sg.EndHeaders()
	m.content.signer, m.content.fields = sg, nil
}

// Body feeds one body chunk to the verifier and the signer.
func (s *Session) Body(chunk []byte) {
	m := s.msg
	if m == nil {
		return
	}
	if v := m.content.verifier; v != nil {
		if err := v.Body(chunk); err != nil {
			s.log.Debug("dkim verifier stopped reading", s.attrs(slog.String("error", err.Error()))...)
		}
	}
	s.arcBody(chunk)
	if s.rawFits(len(chunk)) {
		s.msg.content.raw.Write(chunk)
	}
	if sg := m.content.signer; sg != nil {
		if err := sg.Body(chunk); err != nil {
			s.log.Error("dkim signer", s.attrs(slog.String("error", err.Error()))...)
			m.content.signer = nil
		}
	}
}

// dkimResults finishes verification and returns the Authentication-Results
// entries, one per signature (RFC 6008 header.b for telling them apart).
func (s *Session) dkimResults() ([]dkim.Result, []authres.Entry) {
	v := s.msg.content.verifier
	if v == nil {
		return nil, nil
	}
	results := v.Close()
	s.msg.content.verifier = nil
	if n := v.Skipped(); n > 0 {
		s.log.Info("dkim signatures over max_signatures not verified", s.attrs(slog.Int("skipped", n))...)
	}
	entries := make([]authres.Entry, 0, len(results))
	for _, r := range results {
		e := authres.Entry{Method: "dkim", Result: r.Result, Reason: r.Reason, Props: []authres.Prop{
			{Type: "header", Name: "d", Value: r.Domain}, {Type: "header", Name: "s", Value: r.Selector},
			{Type: "header", Name: "a", Value: r.Algorithm}, {Type: "header", Name: "b", Value: r.BPrefix}}}
		entries = append(entries, e)
	}
	return results, entries
}

// signatures finishes signing and returns the DKIM-Signature values.
func (s *Session) signatures() []string {
	sg := s.msg.content.signer
	if sg == nil {
		return nil
	}
	sigs, err := sg.Close()
	s.msg.content.signer = nil
	if err != nil {
		s.log.Error("dkim signing failed; the message goes out unsigned", s.attrs(slog.String("error", err.Error()))...)
		return nil
	}
	return sigs
}

// evaluateDMARC runs DMARC (RFC 9989) for one Author Domain.
func (s *Session) evaluateDMARC(ctx context.Context, domain string, dkimResults []dkim.Result) *dmarc.Result {
	m := s.msg
	in := dmarc.Input{DomainExists: s.domainExists, FromDomain: domain}
	if m.spfOut != nil {
		in.SPFResult = string(m.spfOut.Result)
		in.SPFDomain = checks.SenderDomain(m.sender)
		if m.spfOut.Identity == "helo" {
			in.SPFDomain = s.helo
		}
	}
	for _, r := range dkimResults {
		res := r.Result
		if r.Unverified {
			// Not checked to the end (size limits, the deadline): the
			// sender chose the message that made it so, so it vouches
			// for nothing, not even as a pass that might have been. A
			// big legitimate message still passes on aligned SPF.
			res = dkim.Fail
		}
		in.DKIM = append(in.DKIM, dmarc.DKIMResult{Domain: r.Domain, Result: res})
	}
	res := dmarc.Evaluate(ctx, m.dmarcPre, in)
	return &res
}

// domainExists tells DMARC's np= whether a From domain exists at all.
func (s *Session) domainExists(ctx context.Context, domain string) (bool, error) {
	_, err := s.e.resolver.LookupIP(ctx, "ip", domain)
	switch {
	case err == nil:
		return true, nil
	case dnsx.IsNXDomain(err):
		return false, nil
	case dnsx.IsNotFound(err):
		return true, nil // the name exists, it just has no address
	}
	return false, err
}

// dmarcEntry is the Authentication-Results entry for a DMARC result.
func dmarcEntry(r *dmarc.Result, fromDomain string) authres.Entry {
	e := authres.Entry{Method: "dmarc", Result: r.Result, Props: []authres.Prop{{Type: "header", Name: "from", Value: fromDomain}}}
	if r.Policy != "" {
		e.Props = append(e.Props, authres.Prop{Type: "policy", Name: "dmarc", Value: r.Policy})
	}
	return e
}

// dmarcReply is the refusal for a message whose DMARC disposition is reject.
func dmarcReply(domain string) *checks.Reply {
	return &checks.Reply{Code: 550, Status: "5.7.1", Text: "Unauthenticated email from " + domain + " is not accepted due to its DMARC policy"}
}

// recordDMARC appends the evaluation to the history for aggregate reports;
// only evaluations that found a policy can be reported.
func (s *Session) recordDMARC(d *dmarc.Result, from string, dkimResults []dkim.Result) {
	h := s.e.history
	if h == nil || d.PolicyDomain == "" || d.Record == nil {
		return
	}
	m := s.msg
	e := dmarcreport.Evaluation{
		Time: time.Now(), SourceIP: s.client.Addr, HeaderFrom: from, EnvelopeFrom: checks.SenderDomain(m.sender),
		PolicyDomain: d.PolicyDomain, Policy: dmarcreport.PolicyFromRecord(d.Record), Disposition: d.Disposition,
		DKIMAligned: d.DKIMAligned, SPFAligned: d.SPFAligned, RUA: d.Record.RUA,
	}
	for _, r := range dkimResults {
		e.DKIM = append(e.DKIM, dmarcreport.AuthResult{Domain: r.Domain, Selector: r.Selector, Result: r.Result})
	}
	if o := m.spfOut; o != nil {
		scope, domain := "mfrom", e.EnvelopeFrom
		if o.Identity == "helo" {
			scope, domain = "helo", s.helo
		}
		e.SPF = []dmarcreport.AuthResult{{Domain: domain, Scope: scope, Result: string(o.Result)}}
	}
	if !s.e.cfg.DMARC.Enforce && d.Disposition != "none" {
		e.Disposition, e.Override, e.OverrideComment = "none", "local_policy", "[dmarc] enforce = false"
	}
	if sealer := m.content.arc.override[from]; sealer != "" {
		e.Override, e.OverrideComment = "trusted_forwarder", "arc=pass, sealed by "+sealer
	}
	if err := h.Append(e); err != nil {
		s.log.Warn("dmarc history", s.attrs(slog.String("error", err.Error()))...)
	}
}

// rawHeader adds a header field to the copy of the message spamd gets,
// in wire form: Postfix joins folded lines with a bare "\n".
func (s *Session) rawHeader(name, value string) {
	if s.e.spamd == nil {
		return
	}
	c := &s.msg.content
	if c.raw == nil && !c.rawTooBig {
		c.raw = &bytes.Buffer{}
	}
	s.rawAppend(name, ":", strings.ReplaceAll(value, "\n", "\r\n"), "\r\n")
}

// rawAppend adds to the spamd copy until it outgrows [score.spamd]
// max_size; a bigger message is not sent (as spamc does), and not kept.
func (s *Session) rawAppend(parts ...string) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if !s.rawFits(n) {
		return
	}
	for _, p := range parts {
		s.msg.content.raw.WriteString(p)
	}
}

// rawFits reports whether n more bytes go into the spamd copy; when they
// would not, the copy is dropped.
func (s *Session) rawFits(n int) bool {
	c := &s.msg.content
	if c.raw == nil {
		return false
	}
	if int64(c.raw.Len()+n) > s.e.cfg.Score.Spamd.MaxSize {
		c.raw, c.rawTooBig = nil, true
		return false
	}
	return true
}

// isFrom reports a From field, also in the obsolete form with white space
// before the colon (RFC 5322 4.5.3, "From :"), which mail clients display
// as the author all the same.
func isFrom(name string) bool {
	return strings.EqualFold(strings.TrimRight(name, " \t"), "From")
}
