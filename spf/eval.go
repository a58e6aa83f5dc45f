package spf

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// checker is the state of one evaluation: the check_host() arguments and the
// counters of 4.6.4, which are global to all recursive evaluations.
type checker struct {
	r        Resolver
	ip       netip.Addr // never IPv4-mapped (5: such addresses are IPv4)
	sender   string     // s
	local    string     // l
	sdomain  string     // o
	helo     string     // h
	receiver string     // r
	now      func() time.Time

	lookups  int               // DNS-querying terms so far
	voids    int               // void lookups so far
	ptrNames map[string]string // %{p} by <domain>
	ptrValid []string          // validated PTR names of ip, for %{p}
	ptrDone  bool
}

// verdict is what one check_host() call produced.
type verdict struct {
	result    Result
	mechanism string  // the deciding term, "default" when none matched
	reason    string  // why, for none and the errors
	rec       *Record // the record that decided, whose exp= applies to a fail (6.2)
	domain    string  // that record's <domain>
}

// evalError ends an evaluation with temperror or permerror.
type evalError struct {
	result Result
	reason string
}

func (e *evalError) Error() string { return e.reason }

func permErr(format string, a ...any) error {
	return &evalError{PermError, fmt.Sprintf(format, a...)}
}

func tempErr(format string, a ...any) error {
	return &evalError{TempError, fmt.Sprintf(format, a...)}
}

// run evaluates domain and turns the verdict into an Outcome, fetching the
// explanation of a fail (6.2).
func (c *checker) run(ctx context.Context, domain string) Outcome {
	o := Outcome{Domain: domain}
	if !c.ip.IsValid() {
		o.Result, o.Reason = None, "no valid client IP address"
		return o
	}
	v := c.checkHost(ctx, domain)
	o.Result, o.Mechanism, o.Reason, o.Lookups = v.result, v.mechanism, v.reason, c.lookups
	if v.result == Fail && v.rec != nil && v.rec.Exp != nil {
		o.Explanation = c.explain(ctx, v.rec.Exp, v.domain)
	}
	return o
}

// checkHost is check_host() (4): validate the domain (4.3), fetch and select
// its record (4.4, 4.5), parse it whole, then evaluate it (4.6).
func (c *checker) checkHost(ctx context.Context, domain string) verdict {
	domain = strings.TrimSuffix(domain, ".")
	if reason := checkDomain(domain); reason != "" {
		return verdict{result: None, reason: fmt.Sprintf("invalid domain %q: %s", domain, reason)}
	}
	rec, v := c.fetchRecord(ctx, domain)
	if rec == nil {
		return v
	}
	return c.evaluate(ctx, rec, domain)
}

// fetchRecord looks up the TXT records of domain and selects and parses its
// SPF record (4.4, 4.5). Records of type SPF (99) are not consulted (3.1).
func (c *checker) fetchRecord(ctx context.Context, domain string) (*Record, verdict) {
	txts, err := c.r.LookupTXT(ctx, domain)
	switch classify(err) {
	case lookupNotFound:
		return nil, verdict{result: None, reason: "no SPF record (no TXT records for " + domain + ")"}
	case lookupTemporary:
		return nil, verdict{result: TempError, reason: fmt.Sprintf("looking up TXT %s: %v", domain, err)}
	}
	var found []string
	for _, t := range txts {
		if isSPFRecord(t) {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return nil, verdict{result: None, reason: "no SPF record at " + domain}
	case 1:
	default:
		return nil, verdict{result: PermError, reason: fmt.Sprintf("%d SPF records at %s (4.5)", len(found), domain)}
	}
	rec, err := Parse(found[0])
	if err != nil {
		return nil, verdict{result: PermError, reason: fmt.Sprintf("record of %s: %v", domain, err)}
	}
	return rec, verdict{}
}

// evaluate runs the directives left to right; the first match decides (4.6.2).
// With no match, redirect= applies (6.1), else the result is neutral (4.7).
func (c *checker) evaluate(ctx context.Context, rec *Record, domain string) verdict {
	for _, d := range rec.Directives {
		match, err := c.matches(ctx, d.Mechanism, domain)
		if err == nil && !match && ctx.Err() != nil {
			err = tempErr("evaluation interrupted: %v", ctx.Err())
		}
		if err != nil {
			return errVerdict(err, d.String())
		}
		if match {
			return verdict{result: d.Qualifier.Result(), mechanism: d.String(), rec: rec, domain: domain}
		}
	}
	if rec.Redirect != nil {
		return c.redirect(ctx, rec.Redirect, domain)
	}
	return verdict{result: Neutral, mechanism: "default", rec: rec, domain: domain}
}

// errVerdict turns an evaluation error into a verdict.
func errVerdict(err error, mechanism string) verdict {
	e, ok := err.(*evalError)
	if !ok {
		e = &evalError{TempError, err.Error()}
	}
	return verdict{result: e.result, mechanism: mechanism, reason: e.reason}
}

// redirect evaluates the record of the redirect= target in place of this one
// (6.1). A target without a record, or a malformed one, gives permerror.
func (c *checker) redirect(ctx context.Context, ds *MacroString, domain string) verdict {
	term := "redirect=" + ds.String()
	if err := c.countTerm(ctx); err != nil {
		return errVerdict(err, term)
	}
	target := c.expandName(ctx, ds, domain)
	v := c.checkHost(ctx, target)
	if v.result == None {
		return verdict{result: PermError, mechanism: term, reason: "redirect target: " + v.reason + " (6.1)"}
	}
	return v
}

// matches tells whether a mechanism matches (5).
func (c *checker) matches(ctx context.Context, m Mechanism, domain string) (bool, error) {
	switch m := m.(type) {
	case All:
		return true, nil
	case IP4:
		return m.Net.Contains(c.ip), nil
	case IP6:
		return m.Net.Contains(c.ip), nil
	}
	if err := c.countTerm(ctx); err != nil {
		return false, err
	}
	switch m := m.(type) {
	case Include:
		return c.include(ctx, m, domain)
	case A:
		return c.a(ctx, m, domain)
	case MX:
		return c.mx(ctx, m, domain)
	case PTR:
		return c.ptr(ctx, m, domain)
	case Exists:
		return c.exists(ctx, m, domain)
	}
	return false, permErr("unsupported mechanism %s", m)
}

// countTerm counts a DNS-querying term against the limit of 10 (4.6.4).
func (c *checker) countTerm(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return tempErr("evaluation interrupted: %v", err)
	}
	c.lookups++
	if c.lookups > maxDNSTerms {
		return permErr("DNS lookup limit (%d) exceeded (4.6.4)", maxDNSTerms)
	}
	return nil
}

// void counts a lookup that found nothing against the limit of 2 (4.6.4).
func (c *checker) void() error {
	c.voids++
	if c.voids > maxVoid {
		return permErr("void lookup limit (%d) exceeded (4.6.4)", maxVoid)
	}
	return nil
}

// env is the macro environment for a record of <domain>.
func (c *checker) env(ctx context.Context, domain string) *macroEnv {
	return &macroEnv{
		sender: c.sender, local: c.local, senderDomain: c.sdomain,
		domain: domain, ip: c.ip, helo: c.helo, receiver: c.receiver, now: c.now,
		ptr: func() string { return c.validatedName(ctx, domain) },
	}
}

// expandName gives the target-name of a domain-spec, <domain> when there is
// none (4.8): macros expanded, a trailing dot removed, and labels removed
// from the left until it fits in 253 characters (7.3).
func (c *checker) expandName(ctx context.Context, ds *MacroString, domain string) string {
	if ds == nil {
		return domain
	}
	name := strings.TrimSuffix(ds.expand(c.env(ctx, domain)), ".")
	for len(name) > maxDomainName {
		dot := strings.IndexByte(name, '.')
		if dot < 0 {
			return ""
		}
		name = name[dot+1:]
	}
	return name
}

// explain fetches and expands the exp= text (6.2). Any problem (bad name,
// DNS error, not exactly one TXT record, bad syntax) means no explanation.
func (c *checker) explain(ctx context.Context, exp *MacroString, domain string) string {
	name := c.expandName(ctx, exp, domain)
	if !validName(name) {
		return ""
	}
	txts, err := c.r.LookupTXT(ctx, name)
	if err != nil || len(txts) != 1 {
		return ""
	}
	ms, err := parseMacroString(txts[0], macroExplain)
	if err != nil {
		return ""
	}
	return ms.expand(c.env(ctx, domain))
}
