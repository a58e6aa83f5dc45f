package engine

import (
	"context"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"spamgate/arc"
	"spamgate/authres"
	"spamgate/config"
	"spamgate/dkim"
	"spamgate/dmarc"
)

// arcState is the ARC part of a message (RFC 8617): the chain verified on
// the way in, and whether the message gets our seal on the way out.
type arcState struct {
	msg    *arc.Message
	result *arc.Result // nil until verified
	// seal: this message gets our ARC set at end of message (outbound with
	// [arc] seal_outbound, or inbound to a forwarded_domains recipient).
	seal bool
	// ownAR is, on outbound mail, our own Authentication-Results of the
	// message's way in (a list server re-sending it): the AAR of our seal.
	ownAR string
	// over: the header outgrew [milter] max_header_bytes; not verified.
	// sawARC: an ARC field was seen (so over means arc=fail, not nothing).
	over, sawARC bool
	// cancel ends the key lookups Prefetch started (their deadline).
	cancel context.CancelFunc
	// override maps an Author Domain to the trusted sealer whose verdict
	// kept its DMARC policy from being applied.
	override map[string]string
}

// loadARCKeys reads the [[arc.key]] keys of the sealer domain.
func loadARCKeys(c config.ARC) ([]dkim.Key, error) {
	var keys []dkim.Key
	for _, k := range c.Keys {
		if !strings.EqualFold(k.Domain, c.SealerDomain) {
			continue
		}
		key, err := dkim.LoadKey(k.File, k.Domain, k.Selector)
		if err != nil {
			return nil, fmt.Errorf("arc key %s for %s: %w", k.Selector, k.Domain, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// arcKey is the key our seals use: [[arc.key]] first, else the DKIM keys
// of the sealer domain; RSA before ed25519, which few verifiers accept in
// ARC (dkimpy, for one, does not).
func (e *Engine) arcKey() (dkim.Key, bool) {
	keys := e.arcKeys
	if len(keys) == 0 && e.keys != nil {
		keys = e.keys.Keys(e.cfg.ARC.SealerDomain)
	}
	for _, k := range keys {
		if _, ok := k.Signer.(*rsa.PrivateKey); ok {
			return k, true
		}
	}
	if len(keys) > 0 {
		return keys[0], true
	}
	return dkim.Key{}, false
}

// arcRcpt notes an accepted recipient: inbound mail to a forwarded domain
// gets our seal.
func (s *Session) arcRcpt(rcpt string) {
	m := s.msg
	if m.outbound || len(s.e.cfg.ARC.ForwardedDomains) == 0 {
		return
	}
	_, domain, _ := strings.Cut(strings.Trim(rcpt, "<>"), "@")
	if slices.ContainsFunc(s.e.cfg.ARC.ForwardedDomains, func(d string) bool {
		return strings.EqualFold(strings.TrimSuffix(d, "."), domain)
	}) {
		m.content.arc.seal = true
	}
}

// arcHeader feeds one header field to the chain. Past [milter]
// max_header_bytes the chain is dropped: not verified (no points), and the
// message not sealed.
func (s *Session) arcHeader(name, value string) {
	m := s.msg
	c := &m.content.arc
	cfg := s.e.cfg.ARC
	if m.outbound {
		c.seal = cfg.SealOutbound
	}
	if !c.seal && (m.outbound || !cfg.Enabled) {
		return
	}
	if len(name) > 4 && strings.EqualFold(name[:4], "ARC-") {
		c.sawARC = true
	}
	if c.over {
		return
	}
	if m.content.headerBytes > s.e.cfg.Milter.MaxHeaderBytes {
		c.over, c.msg = true, nil
		return
	}
	if c.msg == nil {
		c.msg = arc.New(s.e.resolver.LookupTXT, arc.Options{
			MaxInstances: cfg.MaxInstances, MaxLookups: cfg.MaxKeyLookups,
			MaxBodyBytes: s.e.cfg.DKIM.MaxBodyBytes, Seal: c.seal,
		})
	}
	if m.outbound && c.ownAR == "" && strings.EqualFold(name, "Authentication-Results") {
		if id, ok := authres.AuthservID(value); ok && authres.SameID(id, s.e.cfg.Milter.AuthservID) {
			c.ownAR = value
		}
	}
	c.msg.Header(name, value)
}

// arcEndHeaders parses the chain and starts its key lookups, which run
// while the body streams, under the check timeout like every lookup.
func (s *Session) arcEndHeaders() {
	c := &s.msg.content.arc
	if c.msg == nil {
		return
	}
	c.msg.EndHeaders()
	if c.msg.HasChain() {
		var ctx context.Context
		ctx, c.cancel = context.WithTimeout(s.msg.ctx, s.e.timeout)
		c.msg.Prefetch(ctx)
	}
}

// done ends the chain's lookups once it is verified and sealed.
func (c *arcState) done() {
	if c.cancel != nil {
		c.cancel()
	}
}

func (s *Session) arcBody(chunk []byte) {
	if a := s.msg.content.arc.msg; a != nil {
		a.Body(chunk)
	}
}

// arcEntries verifies the chain of an inbound message and returns its
// Authentication-Results entry: arc=pass header.oldest-pass=N
// (as=N ams=N sealers=D1,D2…), or arc=fail with the reason. No ARC fields, no entry.
func (s *Session) arcEntries(ctx context.Context) []authres.Entry {
	c := &s.msg.content.arc
	if !s.e.cfg.ARC.Enabled {
		return nil
	}
	var r arc.Result
	switch {
	case c.over && !c.sawARC:
		return nil
	case c.over:
		r = arc.Result{Result: arc.Fail, Reason: "header over max_header_bytes; not verified", Temporary: true}
	case c.msg == nil || !c.msg.HasChain():
		return nil
	default:
		r = c.msg.Verify(ctx)
		if !c.seal {
			c.done()
		}
	}
	c.result = &r
	s.e.metrics.CheckResult("arc", r.Result)
	if s.report != nil {
		s.report.ARC = c.result
	}
	e := authres.Entry{Method: "arc", Result: r.Result}
	switch r.Result {
	case arc.Pass:
		n := strconv.Itoa(r.Instances)
		e.Props = []authres.Prop{{Type: "header", Name: "oldest-pass", Value: strconv.Itoa(r.OldestPass)}}
		e.Comment = "as=" + n + " ams=" + n + " sealers=" + strings.Join(r.Sealers, ",")
	case arc.Fail:
		e.Reason = clipReason(r.Reason)
		s.log.Info("arc chain failed", s.attrs(slog.String("reason", r.Reason), slog.Int("sets", r.Instances))...)
	}
	return []authres.Entry{e}
}

func clipReason(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// arcOverride lets a trusted forwarder vouch for a message whose DMARC
// failed: the chain passes, its newest set was sealed by a domain in
// [arc] trusted_sealers, and that set's ARC-Authentication-Results
// records an aligned pass for the Author Domain. The Domain Owner's policy
// is then not applied (r.Disposition becomes none; Result and Policy stay
// for Authentication-Results and the aggregate report). It reports the
// sealer, or "".
func (s *Session) arcOverride(ctx context.Context, domain string, r *dmarc.Result) string {
	c := &s.msg.content.arc
	a := c.result
	if a == nil || a.Result != arc.Pass || r.Result != dmarc.ResultFail || r.Disposition == dmarc.PolicyNone {
		return ""
	}
	sealer := a.Sealers[len(a.Sealers)-1]
	if !slices.ContainsFunc(s.e.cfg.ARC.TrustedSealers, func(d string) bool {
		return strings.EqualFold(strings.TrimSuffix(d, "."), sealer)
	}) {
		return ""
	}
	if !s.aarAligned(ctx, domain, a.NewestAAR) {
		s.log.Info("trusted ARC sealer recorded no aligned pass; DMARC policy applies",
			s.attrs(slog.String("sealer", sealer), slog.String("from_domain", domain))...)
		return ""
	}
	if c.override == nil {
		c.override = map[string]string{}
	}
	c.override[domain] = sealer
	s.log.Info("DMARC policy not applied: trusted ARC sealer vouches for the message",
		s.attrs(slog.String("sealer", sealer), slog.String("from_domain", domain),
			slog.String("policy", r.Policy), slog.String("disposition", r.Disposition))...)
	s.e.metrics.CheckResult("dmarc_override", "trusted_forwarder")
	r.Disposition = dmarc.PolicyNone
	return sealer
}

// aarAligned reports whether an AAR records an aligned pass for domain:
// a dkim=pass whose d= (or i=) aligns under the domain's DMARC record, or
// spf=pass together with dmarc=pass for header.from=domain.
func (s *Session) aarAligned(ctx context.Context, domain, aar string) bool {
	_, methods := arc.ParseResults(aar)
	in := dmarc.Input{FromDomain: domain}
	spfPass, dmarcPass := false, false
	for _, m := range methods {
		if m.Result != "pass" {
			continue
		}
		switch m.Method {
		case "dkim":
			d := m.Props["header.d"]
			if d == "" {
				_, d, _ = strings.Cut(m.Props["header.i"], "@")
			}
			if d != "" {
				in.DKIM = append(in.DKIM, dmarc.DKIMResult{Domain: d, Result: "pass"})
			}
		case "spf":
			spfPass = true
		case "dmarc":
			dmarcPass = dmarcPass || strings.EqualFold(strings.TrimSuffix(m.Props["header.from"], "."), domain)
		}
	}
	if spfPass && dmarcPass {
		return true
	}
	if len(in.DKIM) == 0 {
		return false
	}
	return dmarc.Evaluate(ctx, s.msg.dmarcPre, in).DKIMAligned
}

// arcOverrideNote adds the override to a DMARC Authentication-Results
// entry, which keeps dmarc=fail and policy.dmarc=….
func arcOverrideNote(e *authres.Entry, sealer string) {
	if sealer != "" {
		e.Comment = "override=trusted_forwarder,arc=pass,sealer=" + sealer
	}
}

// arcSeal returns the header inserts of our ARC set, or nil. results is
// the Authentication-Results value of inbound mail; outbound mail's AAR
// is our A-R of its way in (when the list server kept it), and its cv=
// the arc= result recorded there. A message whose newest set is ours
// already is not sealed twice.
func (s *Session) arcSeal(ctx context.Context, results string) []HeaderChange {
	m := s.msg
	c := &m.content.arc
	if !c.seal || c.msg == nil {
		if c.seal && c.over {
			s.log.Warn("message not ARC-sealed: header over max_header_bytes", s.attrs()...)
		}
		return nil
	}
	cfg := s.e.cfg.ARC
	if c.msg.OurSeal(s.e.cfg.Milter.AuthservID, []string{cfg.SealerDomain}) {
		s.log.Debug("already ARC-sealed by us", s.attrs()...)
		return nil
	}
	key, ok := s.e.arcKey()
	if !ok {
		s.log.Warn("message not ARC-sealed: no key for [arc] sealer_domain", s.attrs(slog.String("sealer_domain", cfg.SealerDomain))...)
		return nil
	}
	cv := ""
	if m.outbound {
		results = s.e.cfg.Milter.AuthservID + "; none"
		if c.ownAR != "" {
			results = strings.TrimSpace(c.ownAR)
			cv = ownARCResult(c.ownAR)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.e.timeout) // outbound: the chain's keys are looked up here
	defer cancel()
	fields, err := c.msg.Seal(ctx, key, results, cv, time.Now().Unix())
	c.done()
	if err != nil {
		s.log.Warn("message not ARC-sealed", s.attrs(slog.String("error", err.Error()))...)
		return nil
	}
	s.e.metrics.CheckResult("arc_seal", "sealed")
	changes := make([]HeaderChange, 0, len(fields))
	for _, f := range fields {
		changes = append(changes, HeaderChange{Name: f.Name, Value: f.Value})
	}
	return changes
}

// ownARCResult is the arc= result of our own A-R value, "" without one.
func ownARCResult(ar string) string {
	_, methods := arc.ParseResults(ar)
	for _, m := range methods {
		if m.Method == "arc" {
			return m.Result
		}
	}
	return ""
}

// changesSealedFields reports whether header edits change a field a seal
// signs (subject tagging): sealing first would break our own AMS.
func changesSealedFields(changes []HeaderChange) bool {
	for _, c := range changes {
		if (c.Change || c.Delete) && !strings.EqualFold(c.Name, "Authentication-Results") &&
			!strings.HasPrefix(strings.ToLower(c.Name), "x-spam-") {
			return true
		}
	}
	return false
}
