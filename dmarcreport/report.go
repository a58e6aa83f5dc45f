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

// Aggregate builds the reports of evals with an Aggregator.
func Aggregate(evals []Evaluation, rep Reporter, begin, end time.Time) []Report {
	a := NewAggregator(begin, end)
	for _, e := range evals {
		a.Add(e)
	}
	return a.Reports(rep)
}

// Aggregator groups evaluations into report rows as they are read (Scan),
// so that its memory grows with the number of distinct rows, not with the
// number of evaluations. Not safe for concurrent use.
type Aggregator struct {
	begin, end time.Time
	domains    map[string]*domainRows
}

// domainRows is one Policy Domain's rows and the final configuration seen.
type domainRows struct {
	last    Evaluation // Time, Policy and RUA only
	hasLast bool
	rows    map[string]*row
}

type row struct {
	rec   RecordXML
	count int
}

// NewAggregator aggregates the evaluations in [begin, end).
func NewAggregator(begin, end time.Time) *Aggregator {
	return &Aggregator{begin: begin, end: end, domains: make(map[string]*domainRows)}
}

// Add counts e in its row. Evaluations outside [begin, end) or without a
// Policy Domain (no DMARC record) are not reported.
func (a *Aggregator) Add(e Evaluation) {
	d := strings.TrimSuffix(strings.ToLower(e.PolicyDomain), ".")
	if d == "" || e.Time.Before(a.begin) || !e.Time.Before(a.end) {
		return
	}
	g := a.domains[d]
	if g == nil {
		g = &domainRows{rows: make(map[string]*row)}
		a.domains[d] = g
	}
	// The most recent evaluation (the last one on ties) has the final
	// configuration.
	if !g.hasLast || !e.Time.Before(g.last.Time) {
		g.last, g.hasLast = Evaluation{Time: e.Time, Policy: e.Policy, RUA: e.RUA}, true
	}
	r := record(e)
	k := recordKey(r)
	if x := g.rows[k]; x != nil {
		x.count++
		return
	}
	g.rows[k] = &row{rec: r, count: 1}
}

// Reports builds one Report per Policy Domain whose final evaluation
// carries a rua= (RFC 9990 2.1: a separate report for each Policy Domain;
// 2.3: the final configuration observed), sorted by domain.
func (a *Aggregator) Reports(rep Reporter) []Report {
	var reports []Report
	for _, domain := range sortedKeys(a.domains) {
		g := a.domains[domain]
		if len(g.last.RUA) == 0 {
			continue
		}
		reports = append(reports, buildReport(domain, g, rep, a.begin, a.end))
	}
	return reports
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func buildReport(domain string, g *domainRows, rep Reporter, begin, end time.Time) Report {
	id := uniqueID(rep.Domain, domain, begin, end)
	fb := Feedback{
		Version: "1.0",
		Metadata: ReportMetadata{
			OrgName: rep.OrgName, Email: rep.Email, ExtraContactInfo: rep.ExtraContact,
			ReportID:  id,
			DateRange: DateRange{Begin: begin.Unix(), End: end.Unix()},
		},
		Policy:  policyXML(domain, g.last.Policy),
		Records: records(g.rows),
	}
	out, err := xml.MarshalIndent(fb, "", "  ")
	if err != nil {
		// Only plain strings and ints are marshalled: this cannot fail.
		panic(fmt.Sprintf("dmarcreport: marshal: %v", err))
	}
	return Report{
		Domain: domain, RUA: g.last.RUA, Records: len(fb.Records),
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
