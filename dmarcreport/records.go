package dmarcreport

import (
	"encoding/json"
	"sort"
	"strings"
)

// records turns the rows into "record" elements, one per distinct
// (source_ip, policy_evaluated, identifiers, auth_results) tuple with its
// count (RFC 9990 2.1.1: "one record per (IP, result, IDs Auths) tuples").
// Records come out by count, descending, then by their contents.
func records(rows map[string]*row) []RecordXML {
	keys := sortedKeys(rows)
	sort.SliceStable(keys, func(i, j int) bool { return rows[keys[i]].count > rows[keys[j]].count })
	out := make([]RecordXML, 0, len(keys))
	for _, k := range keys {
		r := rows[k].rec
		r.Row.Count = rows[k].count
		out = append(out, r)
	}
	return out
}

// recordKey is the grouping key: the record itself, with count 0.
func recordKey(r RecordXML) string {
	b, _ := json.Marshal(r) // plain strings only
	return string(b)
}

// record is the "record" for one message (count 1 is set by records).
func record(e Evaluation) RecordXML {
	header := lowerDomain(e.HeaderFrom)
	env := lowerDomain(e.EnvelopeFrom)
	return RecordXML{
		Row: RowXML{
			SourceIP: e.SourceIP.Unmap().WithZone("").String(),
			PolicyEvaluated: PolicyEvaluatedXML{
				Disposition: disposition(e.Disposition),
				DKIM:        passFail(e.DKIMAligned),
				SPF:         passFail(e.SPFAligned),
				Reasons:     reasons(e),
			},
		},
		// envelope_from may be present but empty for a null
		// reverse-path (RFC 9990 2.1.1, "identifiers").
		Identifiers: IdentifiersXML{EnvelopeFrom: &env, HeaderFrom: header},
		AuthResults: AuthResultsXML{DKIM: dkimResults(header, e.DKIM), SPF: spfResults(e)},
	}
}

func passFail(aligned bool) string {
	if aligned {
		return "pass"
	}
	return "fail"
}

func lowerDomain(s string) string { return strings.TrimSuffix(strings.ToLower(s), ".") }

// overrideTypes are the schema's PolicyOverrideType values; RFC 9990 2.1.5
// also names policy_test_mode, which the schema lacks: it is written as
// "other" with the name in the comment.
func isOverrideType(t string) bool {
	switch t {
	case "forwarded", "sampled_out", "trusted_forwarder", "mailing_list", "local_policy", "other":
		return true
	}
	return false
}

// reasons gives the policy override "reason" (RFC 9990 2.1.5): the
// evaluation's own Override, or, for a failing message under t=y (RFC 9989
// 4.7), the test mode.
func reasons(e Evaluation) []ReasonXML {
	typ, comment := strings.ToLower(e.Override), e.OverrideComment
	if typ == "" && e.Policy.Testing && !e.DKIMAligned && !e.SPFAligned {
		typ = "policy_test_mode"
	}
	if typ == "" {
		return nil
	}
	if !isOverrideType(typ) {
		comment = strings.TrimSpace(typ + ": " + comment)
		comment = strings.TrimSuffix(comment, ":")
		typ = "other"
	}
	return []ReasonXML{{Type: typ, Comment: comment}}
}

// isDKIMResult: the schema's DKIMResultType (RFC 8601 2.7.1).
func isDKIMResult(r string) bool {
	switch r {
	case "none", "pass", "fail", "policy", "neutral", "temperror", "permerror":
		return true
	}
	return false
}

// isSPFResult: the schema's SPFResultType (RFC 8601 2.7.2).
func isSPFResult(r string) bool {
	switch r {
	case "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror":
		return true
	}
	return false
}

// result lower-cases r (RFC 9990 2.1.1: lower-case RFC 8601 values); a
// value outside the schema's list becomes permerror.
func result(r string, allowed func(string) bool) string {
	r = strings.ToLower(strings.TrimSpace(r))
	if allowed(r) {
		return r
	}
	return "permerror"
}

// dkimResults orders signatures as RFC 9990 2.1.3 prefers (pass strictly
// aligned, pass relaxed aligned, other pass, the rest) and keeps maxDKIM.
func dkimResults(header string, sigs []AuthResult) []DKIMXML {
	out := make([]DKIMXML, 0, len(sigs))
	for _, s := range sigs {
		out = append(out, DKIMXML{Domain: lowerDomain(s.Domain), Selector: s.Selector, Result: result(s.Result, isDKIMResult)})
	}
	sort.SliceStable(out, func(i, j int) bool { return dkimRank(header, out[i]) < dkimRank(header, out[j]) })
	if len(out) > maxDKIM {
		out = out[:maxDKIM]
	}
	return out
}

// dkimRank approximates relaxed alignment by a parent/child relation
// between d= and the From domain (the report has no Organizational Domain).
func dkimRank(header string, d DKIMXML) int {
	switch {
	case d.Result != "pass":
		return 3
	case d.Domain == header:
		return 0
	case strings.HasSuffix(header, "."+d.Domain) || strings.HasSuffix(d.Domain, "."+header):
		return 1
	}
	return 2
}

// spfResults gives the "spf" elements. The schema needs at least one: a
// message without an SPF check reports the envelope (or From) domain as
// none.
func spfResults(e Evaluation) []SPFXML {
	var out []SPFXML
	for _, s := range e.SPF {
		scope := strings.ToLower(s.Scope)
		if scope != "mfrom" && scope != "helo" {
			scope = ""
		}
		out = append(out, SPFXML{Domain: lowerDomain(s.Domain), Scope: scope, Result: result(s.Result, isSPFResult)})
	}
	if len(out) == 0 {
		d := lowerDomain(e.EnvelopeFrom)
		if d == "" {
			d = lowerDomain(e.HeaderFrom)
		}
		out = []SPFXML{{Domain: d, Scope: "mfrom", Result: "none"}}
	}
	return out
}
