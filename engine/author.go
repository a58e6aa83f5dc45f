package engine

import (
	"context"
	"slices"

	"spamgate/author"
	"spamgate/authres"
	"spamgate/checks"
	"spamgate/dkim"
	"spamgate/dmarc"
)

// The replies for an author identity that cannot be judged. RFC 9989 5.3.1
// leaves such messages to local policy; a spoof needs exactly this
// ambiguity, so spamgate refuses them when DMARC is enforced.
var (
	replyMultipleFrom   = checks.Reply{Code: 550, Status: "5.7.1", Text: "Message has more than one From header field"}
	replyTooManyAuthors = checks.Reply{Code: 550, Status: "5.7.1", Text: "Message names too many author domains in its From field"}
	replyNoAuthor       = checks.Reply{Code: 550, Status: "5.7.1", Text: "Message has no usable From address"}
)

// fromField reads one From field. Its domains are the Author Domains DMARC
// judges; their policy lookups start at once. Only the first field counts
// unless [dmarc] multiple_from = "evaluate", and at most max_from_domains
// + 1 distinct domains are kept (one more tells "too many"), so one
// message starts a bounded number of lookups however many From fields or
// addresses it carries.
func (s *Session) fromField(value string) {
	m := s.msg
	c := &m.content
	c.froms++
	if c.froms > 1 && (m.outbound || s.e.cfg.DMARC.MultipleFrom == "reject") {
		return
	}
	limit := s.e.cfg.DMARC.MaxFromDomains
	if len(c.fromDomains) > limit {
		return
	}
	f := author.Parse(value)
	c.fromMalformed = c.fromMalformed || f.Malformed
	for _, d := range f.Domains {
		if slices.Contains(c.fromDomains, d) {
			continue
		}
		c.fromDomains = append(c.fromDomains, d)
		if len(c.fromDomains) > limit {
			break
		}
		if m.dmarcPre != nil {
			m.dmarcPre.Prefetch(d)
		}
	}
	if c.from == "" && len(c.fromDomains) > 0 {
		c.from = c.fromDomains[0]
	}
}

// authorAmbiguity is the refusal for a message whose author cannot be
// judged, and why; nil when the From field names 1 to max_from_domains
// domains (or no domain and no_from_domain = "none").
func (s *Session) authorAmbiguity() (*checks.Reply, string) {
	c, cfg := &s.msg.content, s.e.cfg.DMARC
	switch {
	case c.froms > 1 && cfg.MultipleFrom == "reject":
		return &replyMultipleFrom, "more than one From field"
	case len(c.fromDomains) > cfg.MaxFromDomains:
		return &replyTooManyAuthors, "From names more than max_from_domains domains"
	case c.froms == 0:
		// No author to spoof: nothing to evaluate (RFC 9989 5.3.1 leaves
		// it to local policy). The spam score counts the missing field.
		return nil, "no From field"
	case len(c.fromDomains) == 0 && cfg.NoFromDomain == "reject":
		return &replyNoAuthor, "From names no domain"
	case len(c.fromDomains) == 0:
		return nil, "From names no domain"
	}
	return nil, ""
}

// dmarcVerdict evaluates DMARC for every Author Domain of the message and
// returns the Authentication-Results entries and, when DMARC is enforced,
// the refusal: the strictest disposition of all domains wins (RFC 9989
// 5.3.1 lets a receiver evaluate each). The result that decided is kept in
// m.dmarcOut for the score, the logs and explain.
func (s *Session) dmarcVerdict(ctx context.Context, dkimResults []dkim.Result) ([]authres.Entry, *checks.Reply) {
	m := s.msg
	enforce := (s.e.cfg.DMARC.Enforce || m.dmarcOptIn) && !m.dmarcOptOut
	if reply, why := s.authorAmbiguity(); why != "" {
		res := &dmarc.Result{Result: dmarc.ResultPermError, Disposition: dmarc.PolicyNone, Reason: why}
		m.dmarcOut = res
		entry := dmarcEntry(res, m.content.from)
		entry.Reason = why
		if !enforce {
			reply = nil
		}
		return []authres.Entry{entry}, reply
	}
	var (
		entries  []authres.Entry
		decided  *dmarc.Result
		domain   string
		decision = -1
	)
	for _, d := range m.content.fromDomains {
		r := s.evaluateDMARC(ctx, d, dkimResults)
		entry := dmarcEntry(r, d)
		arcOverrideNote(&entry, s.arcOverride(ctx, d, r))
		entries = append(entries, entry)
		s.recordDMARC(r, d, dkimResults)
		if rank := s.severity(r); rank > decision {
			decided, domain, decision = r, d, rank
		}
	}
	m.dmarcOut, m.dmarcDomain = decided, domain
	if !enforce {
		return entries, nil
	}
	switch {
	case decided.Disposition == dmarc.PolicyReject:
		return entries, dmarcReply(domain)
	case decision == severityTemp:
		return entries, dmarcTempReply(domain)
	case decided.Disposition == dmarc.PolicyQuarantine:
		switch s.e.cfg.DMARC.QuarantineAction {
		case "quarantine":
			m.quarantine = "DMARC policy of " + domain
		case "tag":
			// Points in the spam score ([score.points]
			// dmarc_quarantine), or without the score the flag
			// users' Sieve rules sort into Junk.
			m.spamFlag = true
		}
	}
	return entries, nil
}

// How much each DMARC outcome weighs when a message has several Author
// Domains: the highest decides.
const (
	severityNone       = iota // pass, none, permerror, a temperror that cannot reject, p=none
	severityQuarantine        // fail, the domain asks for quarantine
	severityTemp              // temperror where reject was possible, on_temperror = "tempfail"
	severityReject            // fail, the domain asks for reject
)

func (s *Session) severity(r *dmarc.Result) int {
	switch {
	case r.Disposition == dmarc.PolicyReject:
		return severityReject
	case r.Result == dmarc.ResultTempError && s.e.cfg.DMARC.OnTemperror == "tempfail" && mayReject(r.Record):
		return severityTemp
	case r.Disposition == dmarc.PolicyQuarantine:
		return severityQuarantine
	}
	return severityNone
}

// mayReject: a record that asks for reject somewhere (p, sp or np, not in
// test mode), or none read at all; an evaluation that did not finish could
// have ended in its reject.
func mayReject(rec *dmarc.Record) bool {
	if rec == nil {
		return true
	}
	if rec.Test {
		return false
	}
	return rec.Policy == dmarc.PolicyReject || rec.SubdomainPolicy == dmarc.PolicyReject ||
		rec.NonexistentPolicy == dmarc.PolicyReject
}

// dmarcTempReply asks the sender to retry a message whose DMARC evaluation
// could not finish (RFC 3463 X.7.5: the key or policy needed to validate
// it was not available).
func dmarcTempReply(domain string) *checks.Reply {
	return &checks.Reply{Code: 451, Status: "4.7.5", Text: "DMARC policy of " + domain + " could not be checked, try again later"}
}
