package dmarcreport

import (
	"encoding/xml"

	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	begin = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	end   = begin.Add(24 * time.Hour)
	us    = Reporter{OrgName: "Example Receiver", Email: "postmaster@mx.receiver.example", ExtraContact: "https://receiver.example/dmarc", Domain: "mx.receiver.example"}
)

// realistic is a day of mail for two Policy Domains, one that asks for
// reports and one that does not.
func realistic() []Evaluation {
	at := func(m int) time.Time { return begin.Add(time.Duration(m) * time.Minute) }
	pass := eval(at(1), "192.0.2.10", "example.com")
	forged := eval(at(3), "2001:db8::25", "example.com")
	forged.DKIMAligned, forged.Disposition = false, "reject"
	forged.DKIM = []AuthResult{{Domain: "evil.example", Selector: "x", Result: "pass"}, {Domain: "example.com", Selector: "s1", Result: "fail"}}
	forged.SPF = []AuthResult{{Domain: "evil.example", Scope: "mfrom", Result: "softfail"}}
	forged.EnvelopeFrom = "evil.example"
	bounce := eval(at(5), "::ffff:198.51.100.7", "news.example.com")
	bounce.PolicyDomain = "example.com"
	bounce.EnvelopeFrom, bounce.SPF = "", []AuthResult{{Domain: "mail.example.com", Scope: "helo", Result: "pass"}}
	testing := eval(at(7), "198.51.100.8", "example.com")
	testing.DKIMAligned, testing.Disposition, testing.Policy.Testing = false, "quarantine", true
	testing.Policy.SP = "quarantine"
	quiet := eval(at(2), "192.0.2.99", "quiet.example")
	quiet.RUA = nil
	noRecord := eval(at(2), "192.0.2.98", "norecord.example")
	noRecord.PolicyDomain = ""
	late := eval(end, "192.0.2.10", "example.com") // outside [begin, end)
	return []Evaluation{pass, pass, forged, pass, bounce, testing, quiet, noRecord, late}
}

func TestAggregate(t *testing.T) {
	reports := Aggregate(realistic(), us, begin, end)
	if len(reports) != 1 || reports[0].Domain != "example.com" {
		t.Fatalf("reports for %v, want only example.com", domains(reports))
	}
	fb := parse(t, reports[0].XML)
	tests := []struct {
		ip, from, envFrom, disp, dkim, spf string
		count                              int
	}{
		{"192.0.2.10", "example.com", "example.com", "none", "pass", "fail", 3},
		{"198.51.100.7", "news.example.com", "", "none", "pass", "fail", 1},
		{"198.51.100.8", "example.com", "example.com", "quarantine", "fail", "fail", 1},
		{"2001:db8::25", "example.com", "evil.example", "reject", "fail", "fail", 1},
	}
	if len(fb.Records) != len(tests) {
		t.Fatalf("%d records, want %d: %+v", len(fb.Records), len(tests), fb.Records)
	}
	for i, tt := range tests {
		r := fb.Records[i]
		pe := r.Row.PolicyEvaluated
		if r.Row.SourceIP != tt.ip || r.Row.Count != tt.count || r.Identifiers.HeaderFrom != tt.from ||
			r.Identifiers.EnvelopeFrom == nil || *r.Identifiers.EnvelopeFrom != tt.envFrom ||
			pe.Disposition != tt.disp || pe.DKIM != tt.dkim || pe.SPF != tt.spf {
			t.Errorf("record %d = %+v %+v, want %+v", i, r.Row, r.Identifiers, tt)
		}
	}
}

func TestAggregateGroupsByAuthResults(t *testing.T) {
	a := eval(begin, "192.0.2.1", "example.com")
	b := a
	b.DKIM = []AuthResult{{Domain: "example.com", Selector: "s2", Result: "pass"}}
	c := a
	c.Disposition = "quarantine"
	tests := []struct {
		name  string
		evals []Evaluation
		want  []int
	}{
		{"same tuple", []Evaluation{a, a, a}, []int{3}},
		{"different selector", []Evaluation{a, b, a}, []int{2, 1}},
		{"different disposition", []Evaluation{c, a, c, c}, []int{3, 1}},
		{"case of domains ignored", []Evaluation{a, withFrom(a, "EXAMPLE.com.")}, []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Aggregate(tt.evals, us, begin, end)
			if len(r) != 1 {
				t.Fatalf("%d reports", len(r))
			}
			var got []int
			for _, rec := range parse(t, r[0].XML).Records {
				got = append(got, rec.Row.Count)
			}
			if !equalInts(got, tt.want) {
				t.Errorf("counts %v, want %v", got, tt.want)
			}
		})
	}
}

func withFrom(e Evaluation, d string) Evaluation {
	e.HeaderFrom, e.EnvelopeFrom, e.PolicyDomain = d, d, d
	e.DKIM = []AuthResult{{Domain: strings.ToUpper(e.DKIM[0].Domain), Selector: "s1", Result: "PASS"}}
	return e
}

func TestReportFields(t *testing.T) {
	r := Aggregate(realistic(), us, begin, end)[0]
	wantName := "mx.receiver.example!example.com!1780272000!1780358400!"
	if !strings.HasPrefix(r.FileName, wantName) || !strings.HasSuffix(r.FileName, ".xml") {
		t.Errorf("FileName %q, want %q…xml", r.FileName, wantName)
	}
	fb := parse(t, r.XML)
	id := strings.TrimSuffix(strings.TrimPrefix(r.FileName, wantName), ".xml")
	md := fb.Metadata
	if md.ReportID != id || md.OrgName != us.OrgName || md.Email != us.Email || md.ExtraContactInfo != us.ExtraContact ||
		md.DateRange.Begin != begin.Unix() || md.DateRange.End != end.Unix() {
		t.Errorf("metadata %+v (unique-id %q)", md, id)
	}
	// The final configuration (the t=y, sp=quarantine evaluation) is reported.
	want := PolicyXML{Domain: "example.com", DiscoveryMethod: "treewalk", ADKIM: "r", ASPF: "r", P: "reject", SP: "quarantine", Testing: "y"}
	if fb.Policy != want {
		t.Errorf("policy_published %+v, want %+v", fb.Policy, want)
	}
	if fb.XMLName.Space != Namespace || fb.Version != "1.0" {
		t.Errorf("root %v version %q", fb.XMLName, fb.Version)
	}
	forged := fb.Records[3]
	if d := forged.AuthResults.DKIM; len(d) != 2 || d[0].Domain != "evil.example" || d[1].Result != "fail" {
		t.Errorf("dkim results %+v", d)
	}
	if s := forged.AuthResults.SPF; len(s) != 1 || s[0] != (SPFXML{Domain: "evil.example", Scope: "mfrom", Result: "softfail"}) {
		t.Errorf("spf results %+v", s)
	}
	if rs := fb.Records[2].Row.PolicyEvaluated.Reasons; len(rs) != 1 || rs[0].Type != "other" || !strings.Contains(rs[0].Comment, "policy_test_mode") {
		t.Errorf("t=y reason %+v", rs)
	}
	if again := Aggregate(realistic(), us, begin, end)[0]; again.FileName != r.FileName || string(again.XML) != string(r.XML) {
		t.Error("the same input gave a different report")
	}
}

// TestReportValidatesAgainstSchema runs Debian's xmllint against the
// RFC 9990 schema (testdata/dmarcreport/dmarc-2.0.xsd).
func TestReportValidatesAgainstSchema(t *testing.T) {
	const xmllint = "/usr/bin/xmllint"
	if _, err := os.Stat(xmllint); err != nil {
		t.Fatalf("%s is missing: apt-get install libxml2-utils (or run scripts/test-deps.sh as root)", xmllint)
	}
	xsd, err := filepath.Abs("../testdata/dmarcreport/dmarc-2.0.xsd")
	if err != nil {
		t.Fatal(err)
	}
	big := realistic()
	for i := range 150 { // over the 100-signature cap
		big[2].DKIM = append(big[2].DKIM, AuthResult{Domain: "d.example", Selector: "s", Result: []string{"none", "neutral", "policy", "temperror", "permerror", "weird"}[i%6]})
	}
	big[4].Override, big[4].OverrideComment = "mailing_list", "list.example & co <x>"
	reports := Aggregate(big, us, begin, end)
	if n := len(parse(t, reports[0].XML).Records[3].AuthResults.DKIM); n != maxDKIM {
		t.Errorf("%d dkim results, want the cap %d", n, maxDKIM)
	}
	one := eval(begin, "203.0.113.1", "one.example")
	one.SPF, one.EnvelopeFrom = nil, ""
	reports = append(reports, Aggregate([]Evaluation{one}, Reporter{Domain: "mx.example", OrgName: "x", Email: "y"}, begin, end)...)
	for _, r := range reports {
		path := filepath.Join(t.TempDir(), r.FileName)
		if err := os.WriteFile(path, r.XML, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(xmllint, "--noout", "--schema", xsd, path).CombinedOutput()
		if err != nil {
			t.Errorf("xmllint %s: %v\n%s\n%s", r.FileName, err, out, r.XML)
		}
	}
}

func parse(t *testing.T, b []byte) Feedback {
	t.Helper()
	var fb Feedback
	if err := xml.Unmarshal(b, &fb); err != nil {
		t.Fatalf("re-parse: %v\n%s", err, b)
	}
	return fb
}

func domains(rs []Report) []string {
	var d []string
	for _, r := range rs {
		d = append(d, r.Domain)
	}
	return d
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
