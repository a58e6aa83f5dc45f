package engine

import (
	"time"

	"spamgate/checks"
	"spamgate/dkim"
	"spamgate/history"
	"spamgate/score"
)

// The decision history (issue 15): a Session with a history store keeps
// one history.Record per transaction and hands it to the store when the
// transaction ends — at end of message, or when it is aborted or the
// session closes after RCPTs, so that refusals at RCPT (most of what
// admins look for: "why was this refused?") are kept too. The store's Add
// is a channel send: no I/O and no lock on the milter path. Explain
// sessions (Session.Record) are dry runs and are not recorded.

// decision is what the history needs beyond the message's own state.
type decision struct {
	start      time.Time
	recipients []history.Recipient
	omitted    int    // recipients past history.MaxRecipients
	reply      string // end-of-message refusal
	check      string
	score      float64
	scored     bool
	dkim       string
}

// UseHistory makes the engine's sessions record into st (nil: none); the
// engines reloads build from this one keep it. The caller owns st.
func (e *Engine) UseHistory(st history.Store) { e.decisions = st }

// History returns the decision history store, or nil.
func (e *Engine) History() history.Store { return e.decisions }

// startDecision begins the record of a new transaction.
func (s *Session) startDecision(m *message) {
	if s.e.decisions != nil && s.report == nil {
		m.decision = &decision{start: time.Now()}
	}
}

// decisionRcpt notes one recipient's decision (from recordRcpt, which
// every outcome of Rcpt goes through).
func (s *Session) decisionRcpt(rcpt, rule string, verdicts []checks.Verdict, reply *checks.Reply) {
	d := s.msg.decision
	if d == nil {
		return
	}
	if len(d.recipients) >= history.MaxRecipients {
		d.omitted++
		return
	}
	r := history.Recipient{Addr: rcpt, Rule: rule}
	if reply != nil {
		r.Reply = reply.String()
		for _, v := range verdicts {
			if v.Reply != nil {
				r.Check, r.Reason = v.Check, v.Reason
				break
			}
		}
	}
	d.recipients = append(d.recipients, r)
}

// decisionEnd notes the end-of-message refusal, if any.
func (s *Session) decisionEnd(check string, reply *checks.Reply) {
	if d := s.msg.decision; d != nil && reply != nil {
		d.reply, d.check = reply.String(), check
	}
}

// decisionScore notes the message's spam score.
func (s *Session) decisionScore(sh *score.Sheet) {
	if d := s.msg.decision; d != nil {
		d.score, d.scored = sh.Total(), true
	}
}

// decisionDKIM notes the DKIM result in short form: pass when any
// signature passed, else the first signature's result.
func (s *Session) decisionDKIM(results []dkim.Result) {
	d := s.msg.decision
	if d == nil || len(results) == 0 {
		return
	}
	d.dkim = results[0].Result
	for _, r := range results {
		if r.Result == dkim.Pass {
			d.dkim = dkim.Pass
			return
		}
	}
}

// flushDecision hands the transaction's record to the store: once, when
// the transaction ends, and only when it reached RCPT.
func (s *Session) flushDecision() {
	m := s.msg
	d := m.decision
	if d == nil || len(d.recipients) == 0 {
		return
	}
	m.decision = nil
	r := history.Record{
		Time: d.start, QueueID: s.queueID, Helo: s.helo, Sender: m.sender,
		TLSVersion: s.tls.Version, Cipher: s.tls.Cipher, CipherBits: s.tls.Bits, Outbound: m.outbound,
		Recipients: d.recipients, RecipientsOmitted: d.omitted, Reply: d.reply, Check: d.check, DKIM: d.dkim,
	}
	if s.client.Addr.IsValid() {
		r.Client = s.client.Addr.String()
	}
	if s.client.Hostname != "unknown" {
		r.ClientName = s.client.Hostname
	}
	if d.scored {
		score := d.score
		r.Score = &score
	}
	if m.spfOut != nil {
		r.SPF = string(m.spfOut.Result)
	}
	if m.dmarcOut != nil {
		r.DMARC = m.dmarcOut.Result
	}
	s.e.decisions.Add(r)
}
