package engine

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"

	"spamgate/checks"
	"spamgate/config"
	"spamgate/dkim"
	"spamgate/iprev"
	"spamgate/policy"
	"spamgate/score"
	"spamgate/spf"
)

// replySpam is the refusal at or above the kill level (DESIGN.md).
var replySpam = checks.Reply{Code: 550, Status: "5.7.1", Text: "Message rejected as spam"}

// ScoreReport is the score part of explain's report.
type ScoreReport struct {
	Total float64     `json:"total"`
	Tag   float64     `json:"tag_level"`
	Kill  float64     `json:"kill_level"`
	Hits  []score.Hit `json:"hits"`
}

// levels widens the message's tag and kill levels with an accepted
// recipient's. One message goes to all its recipients, so the most lenient
// levels apply: nobody loses mail, or finds it tagged, below the levels
// their own rule sets.
func (s *Session) levels(set policy.Settings) {
	m := s.msg
	tag, kill := s.e.cfg.Score.TagLevel, s.e.cfg.Score.KillLevel
	if set.TagLevel != nil {
		tag = *set.TagLevel
	}
	if set.KillLevel != nil {
		kill = *set.KillLevel
	}
	if m.accepted == 1 || tag > m.levels.Tag {
		m.levels.Tag = tag
	}
	if m.accepted == 1 || kill > m.levels.Kill {
		m.levels.Kill = kill
	}
}

// scoreSheet adds up what the checks found. dmarcTag is a DMARC
// p=quarantine the sender asked for, applied as points.
func (s *Session) scoreSheet(ctx context.Context, dkimResults []dkim.Result, dmarcTag bool) *score.Sheet {
	m, p := s.msg, s.e.cfg.Score.Points
	sh := &score.Sheet{}
	if d := m.dnsblRes; d != nil {
		for _, z := range d.Listed() {
			sh.Add("SG_DNSBL_"+ruleName(z.Zone), p.DNSBL*z.Weight, "client listed in "+z.Zone)
		}
	}
	if o := m.spfOut; o != nil {
		sh.Add("SG_SPF_"+ruleName(string(o.Result)), spfPoints(p, o.Result), "SPF "+string(o.Result))
	}
	if dkimFailed(dkimResults) {
		sh.Add("SG_DKIM_FAIL", p.DKIMFail, "DKIM signature failed, none passed")
	}
	if a := m.content.arc.result; a != nil && a.Result == "fail" && !a.Temporary {
		sh.Add("SG_ARC_FAIL", p.ARCFail, "ARC chain failed")
	}
	if d := m.dmarcOut; d != nil && d.Result == "fail" && m.content.arc.override[m.dmarcDomain] == "" {
		if dmarcTag {
			sh.Add("SG_DMARC_QUARANTINE", p.DMARCQuarantine, "DMARC fail, sender asks for quarantine")
		} else {
			sh.Add("SG_DMARC_FAIL", p.DMARCFail, "DMARC fail")
		}
	}
	if r := s.iprevResult(); r != nil {
		switch r.Status {
		case iprev.PermError:
			sh.Add("SG_RDNS_NONE", p.RDNSNone, "client has no reverse DNS")
		case iprev.Fail:
			sh.Add("SG_RDNS_UNCONFIRMED", p.RDNSUnconfirmed, "reverse DNS not forward-confirmed")
		}
		if r.Dynamic != "" {
			sh.Add("SG_RDNS_DYNAMIC", p.RDNSDynamic, "dynamic-looking reverse DNS")
		}
	}
	if s.heloCheck != nil {
		if h, ok := s.heloCheck.wait(ctx); ok {
			if h.IPLiteral {
				sh.Add("SG_HELO_IP_LITERAL", p.HeloIPLiteral, "HELO is an address literal")
			}
			if h.Unresolved {
				sh.Add("SG_HELO_UNRESOLVABLE", p.HeloUnresolved, "HELO name does not resolve")
			}
		}
	}
	if !m.content.messageID {
		sh.Add("SG_MISSING_MID", p.NoMessageID, "no Message-ID")
	}
	if !m.content.date {
		sh.Add("SG_MISSING_DATE", p.NoDate, "no Date")
	}
	if m.content.froms == 0 {
		sh.Add("SG_MISSING_FROM", p.NoFrom, "no From")
	}
	if m.content.fromMalformed {
		sh.Add("SG_FROM_MALFORMED", p.FromMalformed, "From field does not parse; judged as a client shows it")
	}
	s.spamdScore(ctx, sh)
	return sh
}

// spfPoints are the points of an SPF result; pass scores nothing.
func spfPoints(p config.ScorePoints, r spf.Result) float64 {
	switch r {
	case spf.Fail:
		return p.SPFFail
	case spf.SoftFail:
		return p.SPFSoftfail
	case spf.Neutral:
		return p.SPFNeutral
	case spf.None:
		return p.SPFNone
	case spf.PermError:
		return p.SPFPermerror
	case spf.TempError:
		return p.SPFTemperror
	}
	return 0
}

func dkimFailed(results []dkim.Result) bool {
	failed := false
	for _, r := range results {
		switch r.Result {
		case "pass":
			return false
		case "fail":
			failed = true
		}
	}
	return failed
}

// ruleName makes a rule name part of A-Z, 0-9 and '_' from a zone or result.
func ruleName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, strings.TrimSuffix(s, "."))
}

// applyScore turns the sheet into header edits, or the kill-level
// refusal. External X-Spam-* fields are deleted first (they could
// pretend a verdict), then ours are added.
func (s *Session) applyScore(sh *score.Sheet) ([]HeaderChange, *checks.Reply) {
	m := s.msg
	l := m.levels
	if m.accepted == 0 {
		l = score.Levels{Tag: s.e.cfg.Score.TagLevel, Kill: s.e.cfg.Score.KillLevel}
	}
	total := sh.Total()
	s.e.metrics.Score(total)
	if s.report != nil {
		s.report.Score = &ScoreReport{Total: total, Tag: l.Tag, Kill: l.Kill, Hits: sh.Hits}
	}
	var changes []HeaderChange
	for i := len(m.spamFields) - 1; i >= 0; i-- {
		f := m.spamFields[i]
		changes = append(changes, HeaderChange{Delete: true, Index: f.index, Name: f.name})
	}
	verdict := sh.Verdict(l)
	if verdict == score.Kill {
		s.log.Info("message over kill level", s.attrs(slog.Float64("score", total), slog.Float64("kill_level", l.Kill),
			slog.String("tests", hitNames(sh)))...)
		if s.e.cfg.Score.KillAction == "reject" {
			r := replySpam
			return nil, &r
		}
		changes = append(changes, HeaderChange{Quarantine: fmt.Sprintf("spam score %.1f", total)})
	}
	// Each is inserted at the top: the last inserted ends up first, so they
	// go in reverse to keep SpamAssassin's order (Flag, Score, Level, Status).
	fields := sh.Headers(l, s.e.scoreFields)
	for i := len(fields) - 1; i >= 0; i-- {
		changes = append(changes, HeaderChange{Name: fields[i].Name, Value: fields[i].Value})
	}
	if tag := s.e.cfg.Score.SubjectTag; tag != "" && verdict != score.Ham && m.content.subjects == 1 {
		changes = append(changes, HeaderChange{Change: true, Index: 1, Name: "Subject",
			Value: strings.TrimPrefix(score.TagSubject(strings.TrimPrefix(m.content.subject, " "), tag), " ")})
	}
	return changes, nil
}

func hitNames(sh *score.Sheet) string {
	names := make([]string, len(sh.Hits))
	for i, h := range sh.Hits {
		names[i] = h.Name
	}
	return strings.Join(names, ",")
}

// spamdScore asks SpamAssassin's spamd about the message, when configured;
// its score joins ours. spamd down or slow: our score alone, with a warning.
func (s *Session) spamdScore(ctx context.Context, sh *score.Sheet) {
	m := s.msg
	c := s.e.spamd
	if c == nil || m.content.raw == nil {
		if c != nil && m.content.rawTooBig {
			s.log.Debug("message too big for spamd", s.attrs()...)
		}
		return
	}
	raw := m.content.raw.Bytes()
	res, err := c.Check(ctx, bytes.NewReader(raw), int64(len(raw)))
	m.content.raw = nil
	if err != nil {
		s.e.metrics.StoreError("spamd")
		s.log.Warn("spamd unavailable; own score only", s.attrs(slog.String("error", err.Error()))...)
		return
	}
	w := s.e.cfg.Score.Spamd.Weight
	sh.Add("SPAMD", res.Score*w, "SpamAssassin: "+strings.Join(res.Rules, ","))
}
