package engine

import (
	"context"
	"log/slog"

	"spamgate/checks"
	"spamgate/recipients"
)

// replyUnknownUser is the refusal of an unknown recipient (DESIGN.md).
var replyUnknownUser = checks.Reply{Code: 550, Status: "5.1.1", Text: "Recipient address rejected: User unknown"}

// replyLDAPTempFail is the reply when LDAP cannot be asked and
// on_ldap_error = "tempfail": accepting would create backscatter for
// unknown users, refusing for good would lose mail.
var replyLDAPTempFail = checks.Reply{Code: 451, Status: "4.3.0", Text: "Recipient address lookup failed, please try again later"}

// recipientVerdict validates a recipient of the relay domains; ok is
// false when the recipient is not validated (no [recipients], or a
// domain that is not ours).
func (s *Session) recipientVerdict(rcpt string) (v checks.Verdict, ok bool) {
	rv := s.e.recipients
	if rv == nil {
		return v, false
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.e.timeout)
	defer cancel()
	res, err := rv.Check(ctx, rcpt)
	v.Check = "recipient"
	switch {
	case err != nil:
		s.e.metrics.StoreError("ldap")
		s.log.Warn("recipient lookup failed", s.attrs(slog.String("rcpt", rcpt), slog.String("error", err.Error()),
			slog.String("on_ldap_error", s.e.cfg.Recipients.OnLDAPError))...)
		v.Reason = "lookup failed: " + err.Error()
		if s.e.cfg.Recipients.OnLDAPError == "tempfail" {
			r := replyLDAPTempFail
			v.Reply = &r
		}
	case res.Status == recipients.NotOurs:
		return v, false
	case res.Status == recipients.Unknown:
		v.Reason = "unknown recipient"
		r := replyUnknownUser
		v.Reply = &r
	default:
		v.Reason = "known: " + res.Source
	}
	result := res.Status.String()
	if err != nil {
		result = "error"
	}
	s.e.metrics.CheckResult("recipient", result)
	return v, true
}
