package engine

import (
	"spamgate/arc"
	"spamgate/checks"
	"spamgate/dkim"
	"spamgate/dmarc"
	"spamgate/dnsbl"
	"spamgate/iprev"
	"spamgate/spf"
)

// Report is what `spamgate explain` prints: every check's result and every
// recipient's decision, recorded by the same Session code that serves
// Postfix. Sessions record one only when asked (Session.Record), so the
// milter path does not pay for it.
type Report struct {
	Client   Client `json:"client"`
	Helo     string `json:"helo"`
	TLS      TLS    `json:"tls"`
	Sender   string `json:"sender"`
	Outbound bool   `json:"outbound"`

	DNSBL        *dnsbl.Result              `json:"dnsbl,omitempty"`
	SenderDomain *checks.SenderDomainResult `json:"sender_domain,omitempty"`
	SPF          *spf.Outcome               `json:"spf,omitempty"`
	IPRev        *iprev.Result              `json:"iprev,omitempty"`
	HeloCheck    *heloFacts                 `json:"helo_check,omitempty"`
	DKIM         []dkim.Result              `json:"dkim,omitempty"`
	DMARC        *dmarc.Result              `json:"dmarc,omitempty"`
	ARC          *arc.Result                `json:"arc,omitempty"`
	Suspicion    []string                   `json:"greylist_suspicion,omitempty"` // why greylisting counts the client suspicious
	Score        *ScoreReport               `json:"score,omitempty"`

	Recipients []RcptReport   `json:"recipients"`
	Headers    []HeaderChange `json:"header_changes,omitempty"`
}

// RcptReport is the decision about one recipient.
type RcptReport struct {
	Rcpt     string           `json:"rcpt"`
	Rule     string           `json:"rule,omitempty"` // FILE:LINE of the policy rule that applied
	Verdicts []checks.Verdict `json:"verdicts"`
	Reply    *checks.Reply    `json:"reply,omitempty"` // nil: accepted
}

// Record makes the session fill r as the transaction goes on.
func (s *Session) Record(r *Report) { s.report = r }

func (s *Session) recordEnvelope() {
	r, m := s.report, s.msg
	if r == nil {
		return
	}
	r.Client, r.Helo, r.TLS, r.Sender, r.Outbound = s.client, s.helo, s.tls, m.sender, m.outbound
	r.DNSBL, r.SenderDomain, r.SPF, r.IPRev = m.dnsblRes, m.senderRes, m.spfOut, s.iprevRes
	if s.heloCheck != nil {
		if h, ok := s.heloCheck.wait(s.ctx); ok {
			r.HeloCheck = &h
		}
	}
}

func (s *Session) recordRcpt(rcpt, rule string, verdicts []checks.Verdict, reply *checks.Reply) {
	s.decisionRcpt(rcpt, rule, verdicts, reply)
	if s.report == nil {
		return
	}
	s.report.Recipients = append(s.report.Recipients, RcptReport{Rcpt: rcpt, Rule: rule, Verdicts: verdicts, Reply: reply})
}
