package checks

import (
	"spamgate/authres"
	"spamgate/spf"
)

// SPFPolicy says which SPF results refuse a recipient.
type SPFPolicy struct {
	RejectFail   bool // fail → 550 5.7.23
	RejectErrors bool // temperror → 451 4.7.24, permerror → 550 5.7.24
}

// DecideSPF turns an SPF outcome into a verdict under the policy. By default
// SPF only records its result (in Authentication-Results) and refuses nothing.
func DecideSPF(o spf.Outcome, p SPFPolicy) Verdict {
	v := Verdict{Check: "spf", Reason: string(o.Result)}
	if o.Reason != "" {
		v.Reason += ": " + o.Reason
	}
	switch {
	case o.Result == spf.Fail && p.RejectFail:
		r := replySPFFail
		if o.Explanation != "" {
			r.Text += ": " + o.Explanation
		}
		v.Reply = &r
	case o.Result == spf.TempError && p.RejectErrors:
		v.Reply = &replySPFTempError
	case o.Result == spf.PermError && p.RejectErrors:
		v.Reply = &replySPFPermError
	}
	return v
}

// SPFAuthResult gives the Authentication-Results entry for an SPF outcome:
// smtp.mailfrom for the MAIL FROM identity, smtp.helo for the null sender.
func SPFAuthResult(o spf.Outcome, sender, helo string) authres.Entry {
	e := authres.Entry{Method: "spf", Result: string(o.Result)}
	if o.Identity == "helo" {
		e.Props = []authres.Prop{{Type: "smtp", Name: "helo", Value: helo}}
	} else {
		e.Props = []authres.Prop{{Type: "smtp", Name: "mailfrom", Value: sender}}
	}
	return e
}
