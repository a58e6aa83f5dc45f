package engine

import (
	"context"
	"errors"
	"log/slog"
	"strings"

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
	postmaster, bare := isPostmaster(rcpt)
	if bare {
		// RFC 5321 4.5.1: "postmaster" without a domain must be accepted.
		return checks.Verdict{Check: "recipient", Reason: "postmaster (RFC 5321 4.5.1)"}, true
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.e.timeout)
	defer cancel()
	var res recipients.Result
	var err error
	if s.report != nil {
		res, err = rv.Check(ctx, rcpt) // explain: a dry run spends no client's budget
	} else {
		res, err = rv.CheckClient(ctx, s.client.Addr, rcpt)
	}
	v.Check = "recipient"
	switch {
	case errors.Is(err, recipients.ErrRateLimited):
		// A dictionary attack from the client's network: its unknown
		// addresses are not looked up. Always a tempfail (on_ldap_error
		// = "accept" would accept them all), logged at debug: the
		// metric counts them, the log must not flood.
		s.e.metrics.CheckResult("recipient", "rate_limited")
		s.log.Debug("recipient lookup over the client's budget", s.attrs(slog.String("rcpt", rcpt))...)
		r := replyLDAPTempFail
		return checks.Verdict{Check: "recipient", Reason: "lookup skipped: " + err.Error(), Reply: &r}, true
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
	case res.Status == recipients.Unknown && postmaster:
		// RFC 5321 4.5.1 requires postmaster@ every domain of ours,
		// whether or not the table or the directory lists it.
		v.Reason = "postmaster (RFC 5321 4.5.1)"
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

// isPostmaster reports whether rcpt is the postmaster (RFC 5321 4.5.1:
// the local part is case-insensitive), and whether it has no domain.
func isPostmaster(rcpt string) (postmaster, bare bool) {
	rcpt = strings.TrimSuffix(strings.TrimPrefix(rcpt, "<"), ">")
	local, _, hasDomain := strings.Cut(rcpt, "@")
	if !strings.EqualFold(local, "postmaster") {
		return false, false
	}
	return true, !hasDomain
}
