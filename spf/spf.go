// Package spf evaluates Sender Policy Framework records (RFC 7208).
//
// The package follows the RFC's own structure: Parse turns a record into a
// typed, fully validated Record (section 4.6, 5, 6, 7 and the ABNF of section
// 12), and CheckHost runs the check_host() function of section 4 on it. A
// record is always parsed completely before any of it is evaluated, so that a
// syntax error anywhere in it gives "permerror" even when an earlier mechanism
// would have matched (4.6: "syntax errors anywhere in the record MUST be
// detected").
//
// All DNS traffic goes through a Resolver and takes a context.Context; the
// package keeps no state between calls.
package spf

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/idna"
)

// Result is the outcome of check_host() (RFC 7208 2.6). Its values are the
// words used in Authentication-Results and Received-SPF header fields.
type Result string

// The results of RFC 7208 2.6.
const (
	None      Result = "none"
	Neutral   Result = "neutral"
	Pass      Result = "pass"
	Fail      Result = "fail"
	SoftFail  Result = "softfail"
	TempError Result = "temperror"
	PermError Result = "permerror"
)

// Resolver is the DNS access the package needs. It is satisfied by
// spamgate/dnsx.Resolver.
//
// Errors should be *net.DNSError: IsNotFound (NXDOMAIN, or NODATA) counts as
// a "void lookup" (4.6.4); IsTimeout or IsTemporary gives temperror (4.4).
// Any other error is treated as temporary. Names are passed without a
// trailing dot.
type Resolver interface {
	// LookupTXT returns one string per TXT record, its character-strings concatenated.
	LookupTXT(ctx context.Context, name string) ([]string, error)
	// LookupMX returns the MX records; hosts carry a trailing dot and a null MX is Host ".".
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	// LookupIP returns the A ("ip4") or AAAA ("ip6") records of host.
	LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	// LookupAddr returns the PTR names of addr, with a trailing dot.
	LookupAddr(ctx context.Context, addr netip.Addr) ([]string, error)
}

// Request is an SMTP transaction's view of an SPF check.
type Request struct {
	IP       netip.Addr // client address (an IPv4-mapped IPv6 address is treated as IPv4, 5. / 4.6.)
	Helo     string     // HELO/EHLO name
	Sender   string     // MAIL FROM address without <>; "" = null sender → check postmaster@<helo> (2.4)
	Receiver string     // the receiving host's name, for %{r}
}

// Outcome is the result of a check with what explains it.
type Outcome struct {
	Result      Result
	Identity    string // "mailfrom" or "helo": which identity was checked (null sender → "helo"); "" from CheckHost
	Domain      string // the domain check_host() started with
	Mechanism   string // the term that matched, e.g. "ip4:192.0.2.0/24", "default" when none matched
	Explanation string // expanded exp= text for fail (6.2), "" otherwise; failures to get it are ignored
	Reason      string // human-readable cause for errors/none, e.g. "void lookup limit (2) exceeded", "no SPF record"
	Lookups     int    // DNS-querying terms counted against the limit of 10
}

// Identities of Outcome.Identity.
const (
	IdentityMailFrom = "mailfrom"
	IdentityHelo     = "helo"
)

// Limits of RFC 7208 4.6.4.
const (
	maxDNSTerms   = 10 // include, a, mx, ptr, exists, redirect
	maxVoid       = 2  // lookups that return no answer or NXDOMAIN
	maxMXNames    = 10 // MX records per mx mechanism
	maxPTRNames   = 10 // PTR names per ptr mechanism or %{p}
	maxDomainName = 253
)

// Check evaluates the MAIL FROM identity of req, or the HELO identity when
// the sender is null (RFC 7208 2.4: the sender is then postmaster@<helo>).
func Check(ctx context.Context, r Resolver, req Request) Outcome {
	identity, sender := IdentityMailFrom, req.Sender
	if sender == "" {
		identity, sender = IdentityHelo, "postmaster@"+req.Helo
	}
	_, domain := splitSender(sender)
	o := CheckHost(ctx, r, req.IP, domain, sender, req.Helo, req.Receiver)
	o.Identity = identity
	return o
}

// CheckHost is the check_host() function of RFC 7208 section 4: it tells
// whether ip may send mail for domain, given the full sender address (for
// the l, s and o macros), the HELO name (h) and the receiving host (r).
func CheckHost(ctx context.Context, r Resolver, ip netip.Addr, domain, sender, helo, receiver string) Outcome {
	local, senderDomain := splitSender(sender)
	// SMTPUTF8 (RFC 8616 section 4): a U-label domain is checked, and
	// expanded in macros, as its A-labels, the form its records are
	// published under. The local-part stays as it is.
	domain, senderDomain = aLabels(domain), aLabels(senderDomain)
	c := &checker{
		r:        r,
		ip:       ip.Unmap(),
		sender:   local + "@" + senderDomain,
		local:    local,
		sdomain:  senderDomain,
		helo:     helo,
		receiver: receiver,
		now:      time.Now,
		ptrNames: map[string]string{},
	}
	return c.run(ctx, domain)
}

// aLabels converts a domain with non-ASCII bytes to A-labels; a name
// that does not convert stays as it is (its lookup then finds nothing).
func aLabels(domain string) string {
	for i := 0; i < len(domain); i++ {
		if domain[i] >= 0x80 {
			if a, err := idna.Lookup.ToASCII(domain); err == nil {
				return a
			}
			return domain
		}
	}
	return domain
}

// splitSender splits a sender at its last "@". A missing local-part is
// replaced with "postmaster" (4.3); a sender without "@" is taken as a domain.
func splitSender(sender string) (local, domain string) {
	at := strings.LastIndexByte(sender, '@')
	if at >= 0 {
		local, domain = sender[:at], sender[at+1:]
	} else {
		domain = sender
	}
	if local == "" {
		local = "postmaster"
	}
	return local, domain
}
