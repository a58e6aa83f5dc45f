package checks

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"

	"spamgate/dnsx"
)

// Resolver is the DNS the checks need; spamgate/dnsx.Resolver provides it.
// Errors are *net.DNSError, classified with the dnsx helpers.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DomainStatus is what the sender-domain check found.
type DomainStatus string

const (
	DomainExists    DomainStatus = "exists"
	DomainNotFound  DomainStatus = "not_found" // NXDOMAIN, or neither MX nor A/AAAA
	DomainNullMX    DomainStatus = "null_mx"   // RFC 7505: the domain says it takes no mail
	DomainTempError DomainStatus = "temperror" // DNS trouble: only a tempfail is allowed
	DomainSkipped   DomainStatus = "skipped"   // null sender, no domain, address literal
)

// SenderDomainResult is the outcome of CheckSenderDomain.
type SenderDomainResult struct {
	Domain string       `json:"domain"`
	Status DomainStatus `json:"status"`
	Detail string       `json:"detail"`
}

// SenderDomain returns the domain of an envelope sender, or "" when there is
// none to check (null sender, no '@', or an address literal like [192.0.2.1]).
func SenderDomain(sender string) string {
	at := strings.LastIndexByte(sender, '@')
	if at < 0 {
		return ""
	}
	d := strings.TrimSuffix(sender[at+1:], ".")
	if d == "" || strings.HasPrefix(d, "[") {
		return ""
	}
	return d
}

// CheckSenderDomain does what Postfix's reject_unknown_sender_domain does: the
// domain must have an MX record, or failing that an A or AAAA record (the
// implicit MX of RFC 5321 section 5.1). A null MX means the domain sends no
// mail either. Any DNS trouble is a temporary error, never a rejection.
func CheckSenderDomain(ctx context.Context, r Resolver, domain string) SenderDomainResult {
	res := SenderDomainResult{Domain: domain}
	if domain == "" {
		res.Status, res.Detail = DomainSkipped, "no sender domain"
		return res
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		res.Status, res.Detail = DomainNotFound, "invalid domain name"
		return res
	}
	mxs, err := r.LookupMX(ctx, ascii)
	switch {
	case err == nil:
		return classifyMX(res, mxs)
	case dnsx.IsNXDomain(err):
		res.Status, res.Detail = DomainNotFound, "NXDOMAIN"
		return res
	case !dnsx.IsNotFound(err):
		res.Status, res.Detail = DomainTempError, "MX lookup: "+err.Error()
		return res
	}
	// No MX records: fall back to the address records.
	addrs, err := r.LookupIP(ctx, "ip", ascii)
	switch {
	case err == nil && len(addrs) > 0:
		res.Status, res.Detail = DomainExists, "no MX, has address records"
	case err == nil || dnsx.IsNotFound(err):
		res.Status, res.Detail = DomainNotFound, "no MX and no A/AAAA records"
	default:
		res.Status, res.Detail = DomainTempError, "address lookup: "+err.Error()
	}
	return res
}

// classifyMX applies RFC 7505: a null MX is a single MX record whose exchange
// is ".". A "." among other MX hosts is a broken record; the others count.
func classifyMX(res SenderDomainResult, mxs []*net.MX) SenderDomainResult {
	usable := 0
	for _, mx := range mxs {
		if mx.Host != "." && mx.Host != "" {
			usable++
		}
	}
	switch {
	case usable > 0:
		res.Status, res.Detail = DomainExists, "has MX records"
	case len(mxs) > 0:
		res.Status, res.Detail = DomainNullMX, "null MX (RFC 7505)"
	default:
		res.Status, res.Detail = DomainNotFound, "empty MX answer"
	}
	return res
}

// Decide turns the result into a verdict: the null sender and skipped domains
// are never refused.
func (r SenderDomainResult) Decide() Verdict {
	v := Verdict{Check: "sender_domain", Reason: string(r.Status) + ": " + r.Detail}
	switch r.Status {
	case DomainNotFound:
		v.Reply = &replyDomainNotFound
	case DomainNullMX:
		v.Reply = &replyNullMX
	case DomainTempError:
		v.Reply = &replyDNSTempFail
	}
	return v
}
