// Package checks holds spamgate's checks. Each check turns lookups into a
// result (facts, for logs, explain and Authentication-Results) and decides,
// from that result, whether a recipient or message gets a reply other than
// "continue". The replies and their RFC 3463 codes are in DESIGN.md.
package checks

import (
	"fmt"
	"strings"
)

// Reply is an SMTP reply a check wants Postfix to send.
type Reply struct {
	Code   int    `json:"code"`   // 451, 550, 554 …
	Status string `json:"status"` // RFC 3463 enhanced status, e.g. "5.1.8"
	Text   string `json:"text"`
}

// String gives the reply line, e.g. "550 5.1.8 Sender address rejected: Domain not found".
func (r Reply) String() string {
	return fmt.Sprintf("%d %s %s", r.Code, r.Status, r.Text)
}

// Milter gives the reply in the form Postfix takes from a milter. Postfix
// drops a single '%', so it is doubled. Parts of a reply can come from
// outside (an SPF exp= text), so anything but printable ASCII becomes a
// space: a line break would split the reply.
func (r Reply) Milter() string {
	s := r.String()
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			b.WriteString("%%")
		case c < ' ' || c > '~':
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Temporary reports a 4xx reply.
func (r Reply) Temporary() bool { return r.Code >= 400 && r.Code < 500 }

// Verdict is one check's decision about a recipient or message.
type Verdict struct {
	Check  string `json:"check"`           // "dnsbl", "sender_domain", "spf", …
	Reply  *Reply `json:"reply,omitempty"` // nil: no objection
	Reason string `json:"reason"`          // why, for logs and explain
}

// Replies DESIGN.md fixes; tests and admins rely on their exact text.
var (
	replyDomainNotFound = Reply{550, "5.1.8", "Sender address rejected: Domain not found"}
	replyNullMX         = Reply{550, "5.7.27", "Sender address rejected: domain does not accept mail"}
	replyDNSTempFail    = Reply{451, "4.4.3", "Sender address rejected: temporary DNS failure, try again later"}
	replySPFFail        = Reply{550, "5.7.23", "SPF validation failed"}
	replySPFTempError   = Reply{451, "4.7.24", "SPF validation error"}
	replySPFPermError   = Reply{550, "5.7.24", "SPF validation error"}
)
