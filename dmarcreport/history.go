package dmarcreport

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"spamgate/dmarc"
)

// Evaluation is one DMARC evaluation, as the engine records it at end of
// message: what RFC 9990 section 2.1 says a report may contain.
type Evaluation struct {
	Time         time.Time       `json:"time"`
	SourceIP     netip.Addr      `json:"source_ip"`
	HeaderFrom   string          `json:"header_from"`   // the RFC5322.From domain
	EnvelopeFrom string          `json:"envelope_from"` // MAIL FROM domain ("" for null sender)
	PolicyDomain string          `json:"policy_domain"` // where the DMARC record was found
	Policy       PolicyPublished `json:"policy"`
	Disposition  string          `json:"disposition"` // none/quarantine/reject (what we applied)
	DKIM         []AuthResult    `json:"dkim,omitempty"`
	SPF          []AuthResult    `json:"spf,omitempty"`
	DKIMAligned  bool            `json:"dkim_aligned"`
	SPFAligned   bool            `json:"spf_aligned"`
	RUA          []string        `json:"rua,omitempty"` // the record's rua= URIs
	// Override is an optional policy override type (RFC 9990 2.1.5:
	// local_policy, mailing_list, trusted_forwarder, other, …) with
	// OverrideComment, for when Disposition is not what the policy asks.
	Override        string `json:"override,omitempty"`
	OverrideComment string `json:"override_comment,omitempty"`
}

// AuthResult is one DKIM signature ({Domain, Selector, Result}) or one SPF
// check ({Domain, Scope "mfrom"/"helo", Result}), uninterpreted with respect
// to DMARC (RFC 9990 section 2.1.1, "auth_results").
type AuthResult struct {
	Domain   string `json:"domain"`
	Selector string `json:"selector,omitempty"`
	Scope    string `json:"scope,omitempty"`
	Result   string `json:"result"`
}

// PolicyPublished is the DMARC Policy Record applied (RFC 9990 2.1.1,
// "policy_published"), tags as parsed, defaults filled in.
type PolicyPublished struct {
	P       string `json:"p"`
	SP      string `json:"sp,omitempty"` // "" when absent: p applies
	NP      string `json:"np,omitempty"` // "" when absent
	ADKIM   string `json:"adkim"`        // "r" or "s"
	ASPF    string `json:"aspf"`         // "r" or "s"
	Testing bool   `json:"testing"`      // t=y
	PSD     string `json:"psd,omitempty"`
	FO      string `json:"fo,omitempty"`
}

// PolicyFromRecord fills a PolicyPublished from the record the evaluation
// applied; nil gives the zero value.
func PolicyFromRecord(r *dmarc.Record) PolicyPublished {
	if r == nil {
		return PolicyPublished{}
	}
	return PolicyPublished{
		P: r.Policy, SP: r.SubdomainPolicy, NP: r.NonexistentPolicy,
		ADKIM: string(r.ADKIM), ASPF: string(r.ASPF),
		Testing: r.Test, PSD: r.PSD, FO: r.FO,
	}
}

// parseLine decodes one history line and checks what a report needs.
func parseLine(line []byte) (Evaluation, error) {
	var e Evaluation
	if err := json.Unmarshal(line, &e); err != nil {
		return Evaluation{}, fmt.Errorf("malformed line: %w", err)
	}
	switch {
	case e.Time.IsZero():
		return Evaluation{}, errors.New("malformed line: no time")
	case !e.SourceIP.IsValid():
		return Evaluation{}, errors.New("malformed line: no source_ip")
	case e.HeaderFrom == "":
		return Evaluation{}, errors.New("malformed line: no header_from")
	}
	e.Time = e.Time.UTC()
	return e, nil
}

// jsonLine is the history line of e, with its newline.
func jsonLine(e Evaluation) ([]byte, error) {
	line, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("dmarc history: encode: %w", err)
	}
	return append(line, '\n'), nil
}

// Limits on what one history line keeps. The evaluation comes from DNS
// records and message headers that anyone can publish or write, so every
// list and string is capped before it is stored: a line is at most a few
// tens of KiB whatever the sender does.
const (
	// MaxStoredURIs is how many rua= URIs a line keeps. A hostile record
	// may list thousands (issue 18: 3,315 URIs, 66 KB per message).
	// RFC 9990 section 2.5 ("Transport") has the report delivered "to
	// every remaining URI, up to the Receiver's limits on supported URIs":
	// a receiver limit is foreseen. RFC 9989 section 4.6 ("DMARC URIs")
	// says a report SHOULD go to each listed URI, and RFC 7489 section
	// 6.2, which both replace, asked receivers that limit the number to
	// support at least two. Four keeps every ordinary record whole.
	MaxStoredURIs = dmarc.MaxReportURIs
	// maxURIBytes: "mailto:" + a 64-byte local part + a 255-byte domain +
	// a size suffix fits; a longer URI is no mailbox we could report to.
	maxURIBytes = 512
	// maxStoredDKIM is [dkim] max_signatures' own upper bound: the engine
	// never verifies more signatures than that.
	maxStoredDKIM = 50
	// maxStoredSPF: one SPF check (MAIL FROM or HELO) per message.
	maxStoredSPF = 2
	// maxFieldBytes caps each string: a domain name is at most 253 bytes.
	maxFieldBytes = 255
	// MaxLineBytes is the longest line the History writes; the fields
	// above keep a line far below it (50 signatures of 255-byte domains
	// and selectors are about 30 KiB). Read accepts lines up to
	// maxReadLineBytes, so that lines written before these caps still
	// read back.
	MaxLineBytes = 64 << 10
)

// bounded returns e with every list and string capped as above.
func bounded(e Evaluation) Evaluation {
	e.HeaderFrom, e.EnvelopeFrom = capString(e.HeaderFrom), capString(e.EnvelopeFrom)
	e.PolicyDomain, e.Disposition = capString(e.PolicyDomain), capString(e.Disposition)
	e.Override, e.OverrideComment = capString(e.Override), capString(e.OverrideComment)
	p := &e.Policy
	p.P, p.SP, p.NP, p.ADKIM, p.ASPF = capString(p.P), capString(p.SP), capString(p.NP), capString(p.ADKIM), capString(p.ASPF)
	p.PSD, p.FO = capString(p.PSD), capString(p.FO)
	e.DKIM = boundedResults(e.DKIM, maxStoredDKIM)
	e.SPF = boundedResults(e.SPF, maxStoredSPF)
	var rua []string
	for _, u := range e.RUA {
		if len(rua) == MaxStoredURIs {
			break
		}
		if len(u) <= maxURIBytes {
			rua = append(rua, u)
		}
	}
	e.RUA = rua
	return e
}

// boundedResults keeps the first limit results, their strings capped. It
// copies: the caller's slice is not changed.
func boundedResults(rs []AuthResult, limit int) []AuthResult {
	if len(rs) == 0 {
		return nil
	}
	out := make([]AuthResult, 0, min(len(rs), limit))
	for _, r := range rs[:min(len(rs), limit)] {
		out = append(out, AuthResult{Domain: capString(r.Domain), Selector: capString(r.Selector),
			Scope: capString(r.Scope), Result: capString(r.Result)})
	}
	return out
}

func capString(s string) string {
	if len(s) > maxFieldBytes {
		return s[:maxFieldBytes]
	}
	return s
}
