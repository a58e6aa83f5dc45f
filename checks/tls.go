package checks

import (
	"fmt"

	"spamgate/policy"
)

// TLSRequired reports whether a recipient's settings ask for encrypted
// transport. min_tls_version and min_cipher_bits refine require_tls; alone
// they do nothing (see policy.Settings.CheckTLS).
func TLSRequired(s policy.Settings) bool {
	return s.RequireTLS != nil && *s.RequireTLS
}

// DecideTLS refuses a recipient whose policy requires encrypted transport
// when the session has none or too weak a one:
// "550 5.7.10 Encryption needed: <rcpt> accepts mail only over TLS". A
// tls_reply of 450 makes it "450 4.7.10" for a soft rollout; reply_text
// replaces the text after "Encryption needed: ".
func DecideTLS(rcpt string, s policy.Settings, t policy.TLSFacts) Verdict {
	v := Verdict{Check: "tls", Reason: "not required"}
	if !TLSRequired(s) {
		return v
	}
	ok, why := s.CheckTLS(t)
	if ok {
		v.Reason = fmt.Sprintf("required; session has %s (%d bits)", t.Version, t.Bits)
		return v
	}
	if why == "" {
		why = "accepts mail only over TLS"
	}
	r := Reply{Code: 550, Status: "5.7.10", Text: fmt.Sprintf("Encryption needed: <%s> %s", rcpt, why)}
	if s.TLSReply == 450 {
		r.Code, r.Status = 450, "4.7.10"
	}
	if s.ReplyText != "" {
		r.Text = "Encryption needed: " + s.ReplyText
	}
	v.Reply = &r
	if t.Version == "" {
		v.Reason = "required; session is cleartext"
	} else {
		v.Reason = fmt.Sprintf("required; session has %s (%d bits): %s", t.Version, t.Bits, why)
	}
	return v
}
