package dmarc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// DMARC results, the words of Authentication-Results (RFC 8601 2.7.1,
// RFC 9989 9.2).
const (
	ResultPass      = "pass"
	ResultFail      = "fail"
	ResultNone      = "none"
	ResultTempError = "temperror"
	ResultPermError = "permerror"
)

// DKIMResult is the outcome of one verified DKIM signature.
type DKIMResult struct {
	Domain string // the signature's d=
	Result string // "pass", "fail", "temperror", … as in Authentication-Results
}

// Input is what the evaluation needs from the message and the other checks.
type Input struct {
	// FromDomain is the RFC5322.From domain, the Author Domain. The caller
	// extracts it and calls Evaluate only for exactly one (RFC 9989 5.3.1).
	// A U-label is converted to an A-label here.
	FromDomain string
	// SPFDomain is the MAIL FROM domain (the HELO domain for a null
	// MAIL FROM, RFC 9989 3.2.4) whose SPF result is SPFResult.
	SPFDomain string
	SPFResult string
	// DKIM holds every signature verified.
	DKIM []DKIMResult
	// DomainExists, when set, reports whether domain exists: false only for
	// NXDOMAIN (RFC 9989 3.2.13, RFC 8020). It is called at most once, for
	// a failing message whose policy comes from a parent record that has an
	// np tag, to choose between sp and np (4.10.1). When nil, the Author
	// Domain is taken to exist and np is never applied. An error makes the
	// result temperror.
	DomainExists func(ctx context.Context, domain string) (bool, error)
}

// Alignment is the alignment check of one Authenticated Identifier.
type Alignment struct {
	Method  string // "spf" or "dkim"
	Domain  string // SPF domain or DKIM d=
	Result  string // the SPF or DKIM result as given
	Aligned bool   // a pass, aligned with the Author Domain (RFC 9989 4.4)
}

// Result is the outcome of Evaluate.
type Result struct {
	Result string // pass, fail, none, temperror or permerror
	// Policy is the Domain Owner Assessment Policy that applies: the p, sp
	// or np value chosen (the A-R "policy.dmarc"); "" without a record.
	// For a pass it is p or sp: the existence check that np needs is
	// made only for a failing message.
	Policy string
	// Disposition is what the Domain Owner asks for this message: "none"
	// unless the result is fail; for fail, Policy lowered one level when
	// the record has t=y (RFC 9989 4.7 "t": reject → quarantine,
	// quarantine → none). Local policy (RFC 9989 5.4, 7.4) is the caller's.
	Disposition  string
	OrgDomain    string  // the Author Domain's Organizational Domain; "" when alignment did not need it (4.10.2)
	PolicyDomain string  // where the record was found (RFC 9989 3.2.5)
	Record       *Record // the record applied, nil without one
	SPFAligned   bool
	DKIMAligned  bool
	Identifiers  []Alignment
	Reason       string // for logs and explain
}

// Evaluate runs the DMARC mechanism of RFC 9989 5.3 for one message: Policy
// Discovery (4.10.1), Identifier Alignment (4.4, 4.10.2), the pass/fail
// verdict (5.3.5) and the choice among p, sp and np (4.10.1).
//
// DNS failures give temperror (4.10.1 and 5.3.6 leave them to the receiver;
// spamgate tempfails rather than guess), unless an aligned pass was already
// established without the failed query. A record that is absent, ambiguous
// (several records at one name) or invalid without rua gives none.
// Authenticated Identifiers whose own result is temperror make a message
// that would otherwise fail a temperror when they could have aligned.
func Evaluate(ctx context.Context, r Resolver, in Input) Result {
	author, err := normalizeDomain(in.FromDomain)
	if err != nil {
		return Result{Result: ResultPermError, Disposition: PolicyNone, Reason: err.Error()}
	}
	d := newDiscoverer(r)
	pol, err := d.discoverPolicy(ctx, author)
	if err != nil {
		return Result{Result: ResultTempError, Disposition: PolicyNone, Reason: err.Error()}
	}
	if pol.rec == nil {
		return Result{Result: ResultNone, Disposition: PolicyNone, Reason: "no DMARC policy record for " + author}
	}
	res := Result{PolicyDomain: pol.domain, OrgDomain: pol.org, Disposition: PolicyNone}
	if pol.invalid != nil {
		res.Result, res.Reason = ResultNone, "record ignored: "+pol.invalid.Error()
		return res
	}
	res.Record = pol.rec
	e := &evaluation{d: d, author: author, rec: pol.rec, org: pol.org}
	pending := e.alignAll(ctx, in, &res)
	res.OrgDomain = e.org
	return e.verdict(ctx, in, pol, pending, res)
}

// evaluation holds one message's alignment state.
type evaluation struct {
	d      *discoverer
	author string
	rec    *Record
	org    string // the Author Domain's Organizational Domain, once known
}

// alignAll checks every Authenticated Identifier (RFC 9989 5.3.3, 5.3.4).
// It returns the error that kept an identifier from being checked, or the
// fact that one with a temperror result could have aligned.
func (e *evaluation) alignAll(ctx context.Context, in Input, res *Result) error {
	var pending error
	check := func(method, domain, result string, mode byte) bool {
		a := Alignment{Method: method, Domain: domain, Result: result}
		switch result {
		case "pass", "temperror":
			ok, err := e.aligned(ctx, domain, mode)
			if err != nil && pending == nil {
				pending = err
			}
			if ok && result == "temperror" && pending == nil {
				pending = fmt.Errorf("dmarc: %s result for %s is temperror", method, domain)
			}
			a.Aligned = ok && result == "pass"
		}
		res.Identifiers = append(res.Identifiers, a)
		return a.Aligned
	}
	if in.SPFDomain != "" && in.SPFResult != "" {
		res.SPFAligned = check("spf", in.SPFDomain, strings.ToLower(in.SPFResult), e.rec.ASPF)
	}
	for _, s := range in.DKIM {
		if check("dkim", s.Domain, strings.ToLower(s.Result), e.rec.ADKIM) {
			res.DKIMAligned = true
		}
	}
	return pending
}

// aligned reports whether id is aligned with the Author Domain in mode 's'
// (identical) or 'r' (same Organizational Domain) (RFC 9989 4.4). The
// Organizational Domains are walked for only when they matter (4.10.2).
func (e *evaluation) aligned(ctx context.Context, id string, mode byte) (bool, error) {
	id, err := normalizeDomain(id)
	if err != nil {
		return false, nil
	}
	if id == e.author {
		return true, nil
	}
	if mode == 's' || lastLabel(id) != lastLabel(e.author) {
		return false, nil
	}
	if e.org == "" {
		if e.org, err = e.d.orgDomain(ctx, e.author); err != nil {
			return false, err
		}
	}
	idOrg, err := e.d.orgDomain(ctx, id)
	if err != nil {
		return false, err
	}
	return idOrg == e.org, nil
}

// verdict decides pass or fail (RFC 9989 5.3.5) and the policy (4.10.1).
func (e *evaluation) verdict(ctx context.Context, in Input, pol policy, pending error, res Result) Result {
	if res.SPFAligned || res.DKIMAligned {
		res.Result, res.Policy = ResultPass, e.basePolicy(pol.domain)
		res.Reason = "aligned " + alignedMethods(res)
		return res
	}
	if pending != nil {
		res.Result, res.Reason = ResultTempError, "no aligned pass and "+pending.Error()
		return res
	}
	p, why, err := e.failPolicy(ctx, in, pol.domain)
	if err != nil {
		res.Result, res.Reason = ResultTempError, err.Error()
		return res
	}
	res.Result, res.Policy, res.Disposition = ResultFail, p, testMode(p, e.rec.Test)
	res.Reason = fmt.Sprintf("no aligned identifier; %s=%s at _dmarc.%s", why, p, pol.domain)
	if e.rec.Test && p != PolicyNone {
		res.Reason += " (t=y: " + res.Disposition + ")"
	}
	return res
}

func alignedMethods(res Result) string {
	switch {
	case res.SPFAligned && res.DKIMAligned:
		return "spf and dkim"
	case res.SPFAligned:
		return "spf"
	}
	return "dkim"
}

// basePolicy is p for the Author Domain's own record and sp (else p) for a
// parent's (RFC 9989 4.10.1), np left aside.
func (e *evaluation) basePolicy(policyDomain string) string {
	if policyDomain != e.author && e.rec.SubdomainPolicy != "" {
		return e.rec.SubdomainPolicy
	}
	return e.rec.Policy
}

// failPolicy chooses p, sp or np for a failing message (RFC 9989 4.10.1):
// p at the Author Domain; for a subdomain, np if it does not exist, sp if
// it does, p when the one that applies is absent.
func (e *evaluation) failPolicy(ctx context.Context, in Input, policyDomain string) (string, string, error) {
	if policyDomain == e.author {
		return e.rec.Policy, "p", nil
	}
	if e.rec.NonexistentPolicy != "" && in.DomainExists != nil {
		exists, err := in.DomainExists(ctx, e.author)
		if err != nil {
			return "", "", fmt.Errorf("dmarc: existence of %s: %w", e.author, err)
		}
		if !exists {
			return e.rec.NonexistentPolicy, "np", nil
		}
	}
	if e.rec.SubdomainPolicy != "" {
		return e.rec.SubdomainPolicy, "sp", nil
	}
	return e.rec.Policy, "p", nil
}

// testMode lowers a policy one level for t=y (RFC 9989 4.7 "t").
func testMode(p string, test bool) string {
	if !test {
		return p
	}
	if p == PolicyReject {
		return PolicyQuarantine
	}
	return PolicyNone
}

// errBadDomain reports a name that cannot be a domain.
var errBadDomain = errors.New("not a valid domain name")

// normalizeDomain lower-cases domain, drops a trailing dot, converts
// U-labels to A-labels (RFC 9989 5.3.1) and checks the label syntax.
func normalizeDomain(domain string) (string, error) {
	s := strings.TrimSuffix(strings.TrimSpace(domain), ".")
	if !isASCII(s) {
		a, err := idna.Lookup.ToASCII(s)
		if err != nil {
			return "", fmt.Errorf("dmarc: domain %q: %w", abbrev(domain), errBadDomain)
		}
		s = a
	}
	s = strings.ToLower(s)
	if !validName(s) {
		return "", fmt.Errorf("dmarc: domain %q: %w", abbrev(domain), errBadDomain)
	}
	return s, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// validName checks lengths and characters: labels of 1 to 63 letters,
// digits, hyphens and underscores, 253 octets in all ("_dmarc." must fit).
func validName(s string) bool {
	if s == "" || len(s) > 253-len("_dmarc.") {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func lastLabel(s string) string { return s[strings.LastIndexByte(s, '.')+1:] }
