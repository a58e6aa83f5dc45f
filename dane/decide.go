package dane

import "strings"

// Sources of an answer, strongest first; also the "source" metric label.
const (
	SourceNexthop  = "nexthop"
	SourceRule     = "rule"    // a rule's explicit outbound_tls
	SourceDANE     = "dane"    // usable TLSA records
	SourceMTASTS   = "mta-sts" // an MTA-STS policy in enforce mode
	SourceRequire  = "rule-require-tls"
	SourceTemp     = "temp"     // DNSSEC trouble for a require_tls domain
	SourceNotFound = "notfound" // Postfix's own default
)

// Inputs are what the sources say about one next hop. Only those the
// decision needs are looked up: the caller fills them in order, and may
// stop once Decide no longer needs more (see Needs).
type Inputs struct {
	Nexthop      string // a [[tls_policy_map.nexthop]] entry's policy
	RuleExplicit string // the rule's outbound_tls
	RuleSource   string // the rule's file:line
	RequireTLS   bool   // the rule requires TLS
	// Protocols is the rule's min_tls_version as Postfix's protocols
	// value (">=TLSv1.2"), "" for none.
	Protocols string
	// DANE is the domain's DANE lookup; nil when DANE is off or not asked.
	DANE *Result
	// MTASTS is the Postfix answer of the domain's MTA-STS policy in
	// enforce mode ("" for none); MTASTSID its policy id.
	MTASTS, MTASTSID string
}

// Decision is the answer and why.
type Decision struct {
	Status string // "OK", "NOTFOUND" or "TEMP"
	Policy string // with OK
	Source string // one of the Source constants
	Why    string // for the log and explain: which entry or record
}

// Decide applies the precedence, strongest first: a nexthop entry; the
// rule's explicit outbound_tls (the admin's word; see Weaker for the
// warning); DANE with usable TLSA records (dane-only for a require_tls
// domain, so that a later TLSA removal cannot turn into opportunistic
// TLS); MTA-STS enforce; the rule's require_tls (encrypt). DNSSEC trouble
// is TEMP for a require_tls domain (Postfix defers, nothing leaves in
// cleartext); otherwise MTA-STS still applies when published (it does not
// depend on DNSSEC), else NOTFOUND.
func Decide(in Inputs) Decision {
	switch {
	case in.Nexthop != "":
		return ok(in.Nexthop, SourceNexthop, "nexthop entry")
	case in.RuleExplicit != "":
		return ok(in.RuleExplicit, SourceRule, "rule "+in.RuleSource+" outbound_tls")
	}
	if d := in.DANE; d != nil {
		if d.Err != nil {
			if in.RequireTLS {
				return Decision{Status: "TEMP", Source: SourceTemp,
					Why: "DNSSEC lookup failed for a require_tls domain (rule " + in.RuleSource + "): " + d.Err.Error()}
			}
			if in.MTASTS == "" {
				return Decision{Status: "NOTFOUND", Source: SourceNotFound, Why: "DNSSEC lookup failed: " + d.Err.Error()}
			}
		} else if d.Usable() {
			level := "dane"
			if in.RequireTLS {
				level = "dane-only"
			}
			return ok(withProtocols(level, in.Protocols), SourceDANE, "TLSA records of "+usableHosts(d))
		}
	}
	if in.MTASTS != "" {
		return ok(in.MTASTS, SourceMTASTS, "MTA-STS id "+in.MTASTSID)
	}
	if in.RequireTLS {
		return ok(withProtocols("encrypt", in.Protocols), SourceRequire, "rule "+in.RuleSource+" require_tls")
	}
	return Decision{Status: "NOTFOUND", Source: SourceNotFound, Why: "no entry, rule, TLSA or MTA-STS policy"}
}

func ok(policy, source, why string) Decision {
	return Decision{Status: "OK", Policy: policy, Source: source, Why: why}
}

func withProtocols(level, protocols string) string {
	if protocols == "" {
		return level
	}
	return level + " protocols=" + protocols
}

func usableHosts(r *Result) string {
	var names []string
	for _, h := range r.Hosts {
		if h.Usable() {
			names = append(names, h.Name)
		}
	}
	return strings.Join(names, ", ")
}

// strength orders Postfix TLS levels by what they prove: none < may <
// encrypt (encrypted, unauthenticated) < dane/verify/secure/fingerprint
// (authenticated).
func strength(policy string) int {
	level, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(policy)), " ")
	switch level {
	case "none":
		return 0
	case "may":
		return 1
	case "encrypt":
		return 2
	case "dane", "dane-only", "verify", "secure", "fingerprint":
		return 3
	}
	return 0
}

// Weaker says why a rule's explicit outbound_tls is weaker than what the
// domain publishes ("" when it is not): an explicit "encrypt" where the
// MX hosts publish DANE gives up the certificate check Postfix would make.
func Weaker(explicit string, in Inputs) string {
	if explicit == "" {
		return ""
	}
	in.Nexthop, in.RuleExplicit = "", ""
	published := Decide(in)
	if published.Status != "OK" || published.Source == SourceRequire {
		return ""
	}
	if strength(explicit) < strength(published.Policy) {
		return "outbound_tls \"" + explicit + "\" is weaker than what the domain publishes: \"" +
			published.Policy + "\" (" + published.Why + ")"
	}
	return ""
}
