package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"spamgate/checks"
	"spamgate/greylist"
	"spamgate/iprev"
	"spamgate/policy"
	"spamgate/spf"
)

// replyStoreTempFail is the reply when the greylist store cannot be asked
// and on_store_error = "tempfail".
var replyStoreTempFail = checks.Reply{Code: 451, Status: "4.3.0", Text: "Temporary failure, please try again later"}

// suspicion lists why the client looks like a spam source, once per
// message: greylisting in mode "suspicious" delays only such clients. A
// client whose SPF passes and whose reverse DNS is forward-confirmed is
// never suspicious.
func (s *Session) suspicion() []string {
	m := s.msg
	if m.suspicious != nil {
		return *m.suspicious
	}
	var why []string
	spfPass := m.spfOut != nil && m.spfOut.Result == spf.Pass
	r := s.iprevResult()
	if !(spfPass && r != nil && r.Status == iprev.Pass) {
		if r != nil {
			switch r.Status {
			case iprev.PermError:
				why = append(why, "no reverse DNS")
			case iprev.Fail:
				why = append(why, "reverse DNS "+r.Name+" not forward-confirmed")
			}
			if r.Dynamic != "" {
				why = append(why, "dynamic-looking reverse DNS "+r.Name+" ("+r.Dynamic+")")
			}
		}
		if d := m.dnsblRes; d != nil && d.Score > 0 {
			why = append(why, fmt.Sprintf("DNSBL score %g", d.Score))
		}
		if m.spfOut != nil {
			switch m.spfOut.Result {
			case spf.None, spf.SoftFail, spf.Neutral:
				why = append(why, "SPF "+string(m.spfOut.Result))
			}
		}
	}
	m.suspicious = &why
	if s.report != nil {
		s.report.Suspicion = why
	}
	return why
}

// greylistVerdict decides greylisting for one recipient; ok is false when
// greylisting does not apply at all (off, or no store).
func (s *Session) greylistVerdict(rcpt string, set policy.Settings) (v checks.Verdict, ok bool) {
	gl := s.e.greylist
	mode := s.e.cfg.Greylist.Mode
	if set.Greylist != "" {
		mode = set.Greylist
	}
	if gl == nil || mode == "never" {
		return v, false
	}
	v.Check = "greylist"
	if mode == "suspicious" {
		why := s.suspicion()
		if len(why) == 0 {
			v.Reason = "client not suspicious"
			s.e.metrics.Greylist("skipped")
			return v, true
		}
		v.Reason = "suspicious: " + strings.Join(why, "; ")
	} else {
		v.Reason = "mode always"
	}
	ctx, cancel := context.WithTimeout(s.msg.ctx, s.e.timeout)
	defer cancel()
	check := gl.Check
	if s.report != nil {
		check = gl.Peek // explain: a dry run must not greylist (or pass) anything
	}
	d, err := check(ctx, s.greylistRequest(rcpt))
	if err != nil {
		return s.greylistError(v, err), true
	}
	s.e.metrics.Greylist(d.Reason)
	v.Reason += "; " + d.Reason
	if !d.Allowed {
		secs := int(d.Wait.Seconds() + 0.999)
		v.Reply = &checks.Reply{Code: 451, Status: "4.7.1", Text: fmt.Sprintf("Greylisted, please try again in %d seconds", secs)}
	}
	return v, true
}

func (s *Session) greylistRequest(rcpt string) greylist.Request {
	m := s.msg
	req := greylist.Request{Client: s.client.Addr, Sender: m.sender, Rcpt: rcpt}
	if o := m.spfOut; o != nil && o.Result == spf.Pass {
		// Big senders retry from another address of their pool; the
		// domain SPF authorized stands for the client then.
		req.SPFDomain = checks.SenderDomain(m.sender)
		if o.Identity == "helo" {
			req.SPFDomain = strings.ToLower(s.helo)
		}
	}
	return req
}

// greylistError applies on_store_error: the message passes (logged and
// counted) or gets a tempfail; mail is never refused for good.
func (s *Session) greylistError(v checks.Verdict, err error) checks.Verdict {
	s.e.metrics.Greylist("error")
	s.e.metrics.StoreError("greylist")
	level := slog.LevelWarn
	if errors.Is(err, greylist.ErrUnavailable) {
		level = slog.LevelDebug // the breaker is open: logged once when it opened
	}
	s.log.Log(s.ctx, level, "greylist store", s.attrs(slog.String("error", err.Error()),
		slog.String("on_store_error", s.e.cfg.Greylist.OnStoreError))...)
	v.Reason += "; store unavailable (" + err.Error() + ")"
	if s.e.cfg.Greylist.OnStoreError == "tempfail" {
		r := replyStoreTempFail
		v.Reply = &r
	}
	return v
}
