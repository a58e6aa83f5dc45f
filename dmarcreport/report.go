package dmarcreport

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Reporter identifies us, the Mail Receiver, in report_metadata (RFC 9990
// section 2.1.1).
type Reporter struct {
	OrgName, Email, ExtraContact string
	Domain                       string // our own: the "receiver" of the file name (3.2)
}

// Report is one aggregate report: one Policy Domain, one XML document.
type Report struct {
	Domain   string   // the Policy Domain
	RUA      []string // where it should go (the final record's rua=)
	Records  int      // number of <record> elements
	XML      []byte
	FileName string // receiver!policy-domain!begin!end!unique-id.xml (RFC 9990 3.2)
}

// maxDKIM caps the signatures per record (RFC 9990 2.1.3: no more than 100).
const maxDKIM = 100

// Aggregate builds one Report per Policy Domain whose final evaluation in
// [begin, end) carries a rua= (RFC 9990 2.1: a separate report for each
// Policy Domain; 2.3: the final configuration observed). Evaluations
// without a Policy Domain (no DMARC record) are not reported. Reports are
// sorted by domain.
func Aggregate(evals []Evaluation, rep Reporter, begin, end time.Time) []Report {
	var reports []Report
	groups := byDomain(evals, begin, end)
	for _, domain := range sortedKeys(groups) {
		group := groups[domain]
		last := latest(group)
		if len(last.RUA) == 0 {
			continue
		}
		reports = append(reports, buildReport(domain, group, last, rep, begin, end))
	}
	return reports
}

// byDomain groups the evaluations in [begin, end) by lower-cased Policy
// Domain.
func byDomain(evals []Evaluation, begin, end time.Time) map[string][]Evaluation {
	m := make(map[string][]Evaluation)
	for _, e := range evals {
		d := strings.TrimSuffix(strings.ToLower(e.PolicyDomain), ".")
		if d == "" || e.Time.Before(begin) || !e.Time.Before(end) {
			continue
		}
		m[d] = append(m[d], e)
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// latest returns the most recent evaluation (the last one on ties).
func latest(group []Evaluation) Evaluation {
	last := group[0]
	for _, e := range group[1:] {
		if !e.Time.Before(last.Time) {
			last = e
		}
	}
	return last
}

func buildReport(domain string, group []Evaluation, last Evaluation, rep Reporter, begin, end time.Time) Report {
	id := uniqueID(rep.Domain, domain, begin, end)
	fb := Feedback{
		Version: "1.0",
		Metadata: ReportMetadata{
			OrgName: rep.OrgName, Email: rep.Email, ExtraContactInfo: rep.ExtraContact,
			ReportID:  id,
			DateRange: DateRange{Begin: begin.Unix(), End: end.Unix()},
		},
		Policy:  policyXML(domain, last.Policy),
		Records: records(group),
	}
	out, err := xml.MarshalIndent(fb, "", "  ")
	if err != nil {
		// Only plain strings and ints are marshalled: this cannot fail.
		panic(fmt.Sprintf("dmarcreport: marshal: %v", err))
	}
	return Report{
		Domain: domain, RUA: last.RUA, Records: len(fb.Records),
		XML:      append([]byte(xml.Header), append(out, '\n')...),
		FileName: fmt.Sprintf("%s!%s!%d!%d!%s.xml", rep.Domain, domain, begin.Unix(), end.Unix(), id),
	}
}

// uniqueID is the Report-ID and the file name's unique-id, which RFC 9990
// 2.1.4 requires to be identical: 1*(ALPHA / DIGIT) (3.2) is also a valid
// ridfmt (2.5.1). It is derived from the report's identity so that a
// re-generated report keeps its file name (3.2: a re-send MUST use the same
// file name).
func uniqueID(receiver, domain string, begin, end time.Time) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s!%s!%d!%d", receiver, domain, begin.Unix(), end.Unix()))
	return hex.EncodeToString(sum[:12])
}

// policyXML is "policy_published": unspecified tags get their defaults
// (RFC 9990 2.1.1; RFC 9989 4.7: sp defaults to p, adkim/aspf to r, t to n).
// The schema has no np or psd element.
func policyXML(domain string, p PolicyPublished) PolicyXML {
	out := PolicyXML{
		Domain: domain, DiscoveryMethod: "treewalk", // RFC 9989 4.10
		ADKIM: alignMode(p.ADKIM), ASPF: alignMode(p.ASPF),
		P: disposition(p.P), SP: disposition(p.SP), Testing: "n", FO: p.FO,
	}
	if p.SP == "" {
		out.SP = out.P
	}
	if p.Testing {
		out.Testing = "y"
	}
	return out
}

func alignMode(s string) string {
	if strings.EqualFold(s, "s") {
		return "s"
	}
	return "r"
}

// disposition maps a policy or applied action onto the schema's
// DispositionType; anything unknown reads as none.
func disposition(s string) string {
	switch s = strings.ToLower(s); s {
	case "quarantine", "reject":
		return s
	}
	return "none"
}
