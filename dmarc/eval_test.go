package dmarc

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type evalCase struct {
	name    string
	records map[string]string
	in      Input
	// want
	result, policy, disposition, policyDomain, orgDomain string
	spf, dkim                                            bool
}

func spfPass(domain string) Input { return Input{SPFDomain: domain, SPFResult: "pass"} }

func dkimPass(domains ...string) []DKIMResult {
	var r []DKIMResult
	for _, d := range domains {
		r = append(r, DKIMResult{Domain: d, Result: "pass"})
	}
	return r
}

func from(in Input, author string) Input { in.FromDomain = author; return in }

func runEval(t *testing.T, tests []evalCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dns := zone(tt.records)
			got := Evaluate(context.Background(), dns, tt.in)
			if got.Result != tt.result || got.Policy != tt.policy || got.Disposition != tt.disposition ||
				got.PolicyDomain != tt.policyDomain || (tt.orgDomain != "" && got.OrgDomain != tt.orgDomain) ||
				got.SPFAligned != tt.spf || got.DKIMAligned != tt.dkim {
				t.Errorf("Evaluate(%+v)\n got result=%s policy=%q disposition=%s policydomain=%q org=%q spf=%v dkim=%v (%s)\n"+
					"want result=%s policy=%q disposition=%s policydomain=%q org=%q spf=%v dkim=%v\nqueries: %s",
					tt.in, got.Result, got.Policy, got.Disposition, got.PolicyDomain, got.OrgDomain, got.SPFAligned, got.DKIMAligned, got.Reason,
					tt.result, tt.policy, tt.disposition, tt.policyDomain, tt.orgDomain, tt.spf, tt.dkim, dns.queried())
			}
			if len(dns.queries) > 3*maxWalkQueries {
				t.Errorf("%d queries", len(dns.queries))
			}
		})
	}
}

// The examples of RFC 9989, verbatim where they give the data.
func TestEvaluateRFCExamples(t *testing.T) {
	ex := map[string]string{"example.com": "v=DMARC1; p=reject; rua=mailto:dmarc-feedback@example.com"}
	strict := map[string]string{"example.com": "v=DMARC1; p=reject; aspf=s; adkim=s"}
	rec := "v=DMARC1; p=none; rua=mailto:r@example.com"
	b41 := map[string]string{"example.com": rec, "signing.example.com": rec}
	runEval(t, []evalCase{
		// B.1.1 Example 1: SPF in strict alignment.
		{name: "B.1.1 ex1", records: strict, in: from(spfPass("example.com"), "example.com"),
			result: "pass", policy: "reject", disposition: "none", policyDomain: "example.com", spf: true},
		// B.1.1 Example 2: MAIL FROM child.example.com, From example.com: relaxed.
		{name: "B.1.1 ex2 relaxed", records: ex, in: from(spfPass("child.example.com"), "example.com"),
			result: "pass", policy: "reject", disposition: "none", policyDomain: "example.com", orgDomain: "example.com", spf: true},
		{name: "B.1.1 ex2 under aspf=s", records: strict, in: from(spfPass("child.example.com"), "example.com"),
			result: "fail", policy: "reject", disposition: "reject", policyDomain: "example.com"},
		// B.1.1 Example 3: MAIL FROM example.net, From child.example.com.
		{name: "B.1.1 ex3", records: ex, in: from(spfPass("example.net"), "child.example.com"),
			result: "fail", policy: "reject", disposition: "reject", policyDomain: "example.com"},
		// B.1.2 Example 1: d=example.com, From example.com.
		{name: "B.1.2 ex1", records: strict, in: Input{FromDomain: "example.com", DKIM: dkimPass("example.com")},
			result: "pass", policy: "reject", disposition: "none", policyDomain: "example.com", dkim: true},
		// B.1.2 Example 2: d=example.com, From child.example.com.
		{name: "B.1.2 ex2 relaxed", records: ex, in: Input{FromDomain: "child.example.com", DKIM: dkimPass("example.com")},
			result: "pass", policy: "reject", disposition: "none", policyDomain: "example.com", orgDomain: "example.com", dkim: true},
		{name: "B.1.2 ex2 under adkim=s", records: strict, in: Input{FromDomain: "child.example.com", DKIM: dkimPass("example.com")},
			result: "fail", policy: "reject", disposition: "reject", policyDomain: "example.com"},
		// B.1.2 Example 3: d=example.net, From child.example.com.
		{name: "B.1.2 ex3", records: ex, in: Input{FromDomain: "child.example.com", DKIM: dkimPass("example.net")},
			result: "fail", policy: "reject", disposition: "reject", policyDomain: "example.com"},
		// 4.4 Table 1: foo.example.com vs news.example.com relaxed; identical; foo.example.net none.
		{name: "4.4 table relaxed", records: ex, in: Input{FromDomain: "news.example.com", DKIM: dkimPass("foo.example.com")},
			result: "pass", policy: "reject", disposition: "none", policyDomain: "example.com", dkim: true},
		{name: "4.4 table strict", records: strict, in: Input{FromDomain: "news.example.com", DKIM: dkimPass("news.example.com")},
			result: "pass", policy: "reject", disposition: "none", policyDomain: "example.com", dkim: true},
		{name: "4.4 table none", records: ex, in: Input{FromDomain: "news.example.com", DKIM: dkimPass("foo.example.net")},
			result: "fail", policy: "reject", disposition: "reject", policyDomain: "example.com"},
		// B.3.1: SMTP session example.
		{name: "B.3.1", records: map[string]string{"example.com": "v=DMARC1; p=reject; aspf=r; rua=mailto:dmarc-feedback@example.com"},
			in:     Input{FromDomain: "example.com", SPFDomain: "mail.example.com", SPFResult: "pass", DKIM: dkimPass("example.com")},
			result: "pass", policy: "reject", disposition: "none", policyDomain: "example.com", spf: true, dkim: true},
		// B.4.1: both aligned, the Author Domain is the policy domain.
		{name: "B.4.1", records: b41,
			in:     Input{FromDomain: "example.com", SPFDomain: "example.com", SPFResult: "pass", DKIM: dkimPass("signing.example.com")},
			result: "pass", policy: "none", disposition: "none", policyDomain: "example.com", orgDomain: "example.com", spf: true, dkim: true},
		// B.4.2: deep tree walk, example.com is the policy domain.
		{name: "B.4.2", records: b41,
			in:     Input{FromDomain: "a.b.c.d.e.f.g.h.i.j.k.example.com", SPFDomain: "example.com", SPFResult: "pass", DKIM: dkimPass("signing.example.com")},
			result: "pass", policy: "none", disposition: "none", policyDomain: "example.com", orgDomain: "example.com", spf: true, dkim: true},
		{name: "B.4.2 failing", records: b41,
			in:     Input{FromDomain: "a.b.c.d.e.f.g.h.i.j.k.example.com", SPFDomain: "example.com", SPFResult: "fail", DKIM: []DKIMResult{{Domain: "signing.example.com", Result: "fail"}}},
			result: "fail", policy: "none", disposition: "none", policyDomain: "example.com", orgDomain: "example.com"},
		// B.4.3: SPF aligned through the PSD walk, DKIM not.
		{name: "B.4.3", records: bankZone(),
			in:     Input{FromDomain: "giant.bank.example", SPFDomain: "mail.giant.bank.example", SPFResult: "pass", DKIM: dkimPass("mail.mega.bank.example")},
			result: "pass", policy: "quarantine", disposition: "none", policyDomain: "giant.bank.example", orgDomain: "giant.bank.example", spf: true},
		{name: "B.4.3 dkim only", records: bankZone(),
			in:     Input{FromDomain: "giant.bank.example", DKIM: dkimPass("mail.mega.bank.example")},
			result: "fail", policy: "quarantine", disposition: "quarantine", policyDomain: "giant.bank.example", orgDomain: "giant.bank.example"},
	})
}

func TestEvaluatePolicies(t *testing.T) {
	org := func(rec string) map[string]string { return map[string]string{"example.com": rec} }
	fail := Input{FromDomain: "example.com", SPFDomain: "evil.example", SPFResult: "pass", DKIM: dkimPass("evil.example")}
	sub := func(in Input) Input { in.FromDomain = "sub.example.com"; return in }
	exists := func(ok bool) func(context.Context, string) (bool, error) {
		return func(context.Context, string) (bool, error) { return ok, nil }
	}
	nx := sub(fail)
	nx.DomainExists = exists(false)
	there := sub(fail)
	there.DomainExists = exists(true)
	broken := sub(fail)
	broken.DomainExists = func(context.Context, string) (bool, error) { return false, errors.New("SERVFAIL") }

	runEval(t, []evalCase{
		{name: "p=none", records: org("v=DMARC1; p=none"), in: fail,
			result: "fail", policy: "none", disposition: "none", policyDomain: "example.com"},
		{name: "p=quarantine", records: org("v=DMARC1; p=quarantine"), in: fail,
			result: "fail", policy: "quarantine", disposition: "quarantine", policyDomain: "example.com"},
		{name: "p=reject", records: org("v=DMARC1; p=reject"), in: fail,
			result: "fail", policy: "reject", disposition: "reject", policyDomain: "example.com"},
		{name: "p=Reject uppercase", records: org("v=DMARC1; p=Reject"), in: fail,
			result: "fail", policy: "reject", disposition: "reject", policyDomain: "example.com"},
		{name: "removed pct ignored", records: org("v=DMARC1; p=reject; pct=0"), in: fail,
			result: "fail", policy: "reject", disposition: "reject", policyDomain: "example.com"},
		// RFC 9989 4.7 "t": one level below.
		{name: "t=y reject", records: org("v=DMARC1; p=reject; t=y"), in: fail,
			result: "fail", policy: "reject", disposition: "quarantine", policyDomain: "example.com"},
		{name: "t=y quarantine", records: org("v=DMARC1; p=quarantine; t=y"), in: fail,
			result: "fail", policy: "quarantine", disposition: "none", policyDomain: "example.com"},
		{name: "t=y none", records: org("v=DMARC1; p=none; t=y"), in: fail,
			result: "fail", policy: "none", disposition: "none", policyDomain: "example.com"},
		{name: "t=n", records: org("v=DMARC1; p=reject; t=n"), in: fail,
			result: "fail", policy: "reject", disposition: "reject", policyDomain: "example.com"},
		// sp= for an existing subdomain; p at the Author Domain ignores sp.
		{name: "sp for subdomain", records: org("v=DMARC1; p=reject; sp=quarantine"), in: sub(fail),
			result: "fail", policy: "quarantine", disposition: "quarantine", policyDomain: "example.com", orgDomain: "example.com"},
		{name: "sp ignored at author", records: org("v=DMARC1; p=reject; sp=none"), in: fail,
			result: "fail", policy: "reject", disposition: "reject", policyDomain: "example.com"},
		{name: "no sp: p for subdomain", records: org("v=DMARC1; p=reject"), in: sub(fail),
			result: "fail", policy: "reject", disposition: "reject", policyDomain: "example.com"},
		{name: "subdomain own record: p", records: map[string]string{"example.com": "v=DMARC1; p=reject; sp=reject", "sub.example.com": "v=DMARC1; p=none"},
			in: sub(fail), result: "fail", policy: "none", disposition: "none", policyDomain: "sub.example.com"},
		// np= for a non-existent subdomain (RFC 9989 4.10.1, 3.2.13).
		{name: "np non-existent", records: org("v=DMARC1; p=none; sp=quarantine; np=reject"), in: nx,
			result: "fail", policy: "reject", disposition: "reject", policyDomain: "example.com"},
		{name: "np existing uses sp", records: org("v=DMARC1; p=none; sp=quarantine; np=reject"), in: there,
			result: "fail", policy: "quarantine", disposition: "quarantine", policyDomain: "example.com"},
		{name: "np without hook uses sp", records: org("v=DMARC1; p=none; sp=quarantine; np=reject"), in: sub(fail),
			result: "fail", policy: "quarantine", disposition: "quarantine", policyDomain: "example.com"},
		{name: "non-existent without np: sp", records: org("v=DMARC1; p=none; sp=quarantine"), in: nx,
			result: "fail", policy: "quarantine", disposition: "quarantine", policyDomain: "example.com"},
		{name: "non-existent without np, sp: p", records: org("v=DMARC1; p=reject"), in: nx,
			result: "fail", policy: "reject", disposition: "reject", policyDomain: "example.com"},
		{name: "np ignored at author", records: org("v=DMARC1; p=none; np=reject"),
			in:     Input{FromDomain: "example.com", DomainExists: exists(false)},
			result: "fail", policy: "none", disposition: "none", policyDomain: "example.com"},
		{name: "np existence error", records: org("v=DMARC1; p=none; np=reject"), in: broken,
			result: "temperror", disposition: "none", policyDomain: "example.com"},
		{name: "np t=y", records: org("v=DMARC1; p=none; np=reject; t=y"), in: nx,
			result: "fail", policy: "reject", disposition: "quarantine", policyDomain: "example.com"},
		// Public Suffix Domain policy (psd=y).
		{name: "psd policy for registered domain", records: map[string]string{"bank.example": "v=DMARC1; p=reject; sp=quarantine; np=reject; psd=y"},
			in:     Input{FromDomain: "giant.bank.example"},
			result: "fail", policy: "quarantine", disposition: "quarantine", policyDomain: "bank.example", orgDomain: "giant.bank.example"},
		{name: "psd np", records: map[string]string{"bank.example": "v=DMARC1; p=reject; sp=quarantine; np=reject; psd=y"},
			in:     Input{FromDomain: "nothere.bank.example", DomainExists: exists(false)},
			result: "fail", policy: "reject", disposition: "reject", policyDomain: "bank.example", orgDomain: "nothere.bank.example"},
		{name: "psd policy not used when org publishes", records: map[string]string{"bank.example": "v=DMARC1; p=reject; psd=y", "giant.bank.example": "v=DMARC1; p=none"},
			in:     Input{FromDomain: "www.giant.bank.example"},
			result: "fail", policy: "none", disposition: "none", policyDomain: "giant.bank.example", orgDomain: "giant.bank.example"},
		{name: "psd=n declares org", records: map[string]string{"example.com": "v=DMARC1; p=reject", "dept.example.com": "v=DMARC1; p=none; psd=n"},
			in:     Input{FromDomain: "a.dept.example.com", DKIM: dkimPass("example.com")},
			result: "fail", policy: "none", disposition: "none", policyDomain: "dept.example.com", orgDomain: "dept.example.com"},
		{name: "psd=n org aligned", records: map[string]string{"example.com": "v=DMARC1; p=reject", "dept.example.com": "v=DMARC1; p=none; psd=n"},
			in:     Input{FromDomain: "a.dept.example.com", DKIM: dkimPass("b.dept.example.com")},
			result: "pass", policy: "none", disposition: "none", policyDomain: "dept.example.com", orgDomain: "dept.example.com", dkim: true},
		// Tree walk across many labels: policy from the parent that has a record.
		{name: "deep walk", records: org("v=DMARC1; p=reject; sp=quarantine"),
			in:     Input{FromDomain: "x.y.z.w.v.u.t.s.r.example.com", DKIM: dkimPass("mail.example.com")},
			result: "pass", policy: "quarantine", disposition: "none", policyDomain: "example.com", orgDomain: "example.com", dkim: true},
	})
}

func TestEvaluateNoPolicy(t *testing.T) {
	in := Input{FromDomain: "example.com", SPFDomain: "example.com", SPFResult: "pass"}
	runEval(t, []evalCase{
		{name: "no record", in: in, result: "none", disposition: "none"},
		{name: "invalid record", records: map[string]string{"example.com": "v=DMARC1; p=rejetc"}, in: in,
			result: "none", disposition: "none", policyDomain: "example.com"},
		{name: "invalid p rescued by rua", records: map[string]string{"example.com": "v=DMARC1; p=rejetc; rua=mailto:a@example.com"},
			in: Input{FromDomain: "example.com"}, result: "fail", policy: "none", disposition: "none", policyDomain: "example.com"},
		{name: "not DMARC", records: map[string]string{"example.com": "v=spf1 -all"}, in: in, result: "none", disposition: "none"},
		{name: "invalid From domain", in: Input{FromDomain: "exa..mple.com"}, result: "permerror", disposition: "none"},
		{name: "empty From domain", in: Input{}, result: "permerror", disposition: "none"},
	})
}

func TestEvaluateMultipleRecords(t *testing.T) {
	two := []string{"v=DMARC1; p=reject", "v=DMARC1; p=none"}
	dns := zone(nil)
	dns.txt["_dmarc.example.com"] = two
	got := Evaluate(context.Background(), dns, Input{FromDomain: "example.com"})
	if got.Result != "none" || got.Policy != "" {
		t.Errorf("two records: %+v", got)
	}
	// Two records at the Author Domain are discarded; the walk goes on to
	// the Organizational Domain (RFC 9989 4.10 step 2).
	dns = zone(map[string]string{"example.com": "v=DMARC1; p=reject; sp=quarantine"})
	dns.txt["_dmarc.sub.example.com"] = two
	got = Evaluate(context.Background(), dns, Input{FromDomain: "sub.example.com"})
	if got.Result != "fail" || got.Policy != "quarantine" || got.PolicyDomain != "example.com" {
		t.Errorf("two records at subdomain: %+v", got)
	}
	// Non-DMARC TXT records beside one DMARC record do not count.
	dns = zone(nil)
	dns.txt["_dmarc.example.com"] = []string{"hello", "v=DMARC1; p=reject", "v=spf1 -all"}
	got = Evaluate(context.Background(), dns, Input{FromDomain: "example.com"})
	if got.Result != "fail" || got.Policy != "reject" {
		t.Errorf("one DMARC record among others: %+v", got)
	}
}

func TestEvaluateTempErrors(t *testing.T) {
	rec := map[string]string{"example.com": "v=DMARC1; p=reject"}
	tests := []struct {
		name   string
		fail   string
		in     Input
		result string
	}{
		{"author query", "_dmarc.example.com", Input{FromDomain: "example.com"}, "temperror"},
		{"walk query", "_dmarc.example.com", Input{FromDomain: "sub.example.com"}, "temperror"},
		{"walk above a found record", "_dmarc.com", Input{FromDomain: "sub.example.com"}, "temperror"},
		// The DKIM domain's walk fails, but SPF already aligns: pass.
		{"unneeded org walk", "_dmarc.mail.example.com",
			Input{FromDomain: "example.com", SPFDomain: "example.com", SPFResult: "pass", DKIM: dkimPass("mail.example.com")}, "pass"},
		// The DKIM domain's walk fails and nothing else aligns: temperror.
		{"needed org walk", "_dmarc.mail.example.com",
			Input{FromDomain: "example.com", DKIM: dkimPass("mail.example.com")}, "temperror"},
		// An unaligned identifier's trouble does not matter.
		{"other tld", "_dmarc.mail.example.net",
			Input{FromDomain: "example.com", DKIM: dkimPass("mail.example.net")}, "fail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dns := zone(rec)
			dns.fail[tt.fail] = true
			got := Evaluate(context.Background(), dns, tt.in)
			if got.Result != tt.result {
				t.Errorf("got %s (%s), want %s", got.Result, got.Reason, tt.result)
			}
			if got.Result == "temperror" && (got.Disposition != "none" || got.Policy != "") {
				t.Errorf("temperror with policy %q disposition %q", got.Policy, got.Disposition)
			}
		})
	}
	// SPF or DKIM temperror on an identifier that would align (5.3.6).
	for _, in := range []Input{
		{FromDomain: "example.com", SPFDomain: "bounce.example.com", SPFResult: "temperror"},
		{FromDomain: "example.com", DKIM: []DKIMResult{{Domain: "example.com", Result: "TempError"}}},
	} {
		if got := Evaluate(context.Background(), zone(rec), in); got.Result != "temperror" {
			t.Errorf("%+v: got %s (%s), want temperror", in, got.Result, got.Reason)
		}
	}
	in := Input{FromDomain: "example.com", SPFDomain: "example.com", SPFResult: "pass",
		DKIM: []DKIMResult{{Domain: "example.com", Result: "temperror"}}}
	if got := Evaluate(context.Background(), zone(rec), in); got.Result != "pass" {
		t.Errorf("temperror beside an aligned pass: %s", got.Result)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := Evaluate(ctx, zone(rec), Input{FromDomain: "example.com"}); got.Result != "temperror" {
		t.Errorf("canceled context: %s", got.Result)
	}
}

func TestEvaluateShortcuts(t *testing.T) {
	// RFC 9989 4.10.2: no Organizational Domain walk when the identifiers
	// equal the Author Domain, or when alignment is strict.
	for _, rec := range []string{"v=DMARC1; p=reject", "v=DMARC1; p=reject; aspf=s; adkim=s"} {
		dns := zone(map[string]string{"example.com": rec})
		in := Input{FromDomain: "example.com", SPFDomain: "mail.example.com", SPFResult: "fail", DKIM: dkimPass("example.com")}
		if !strings.Contains(rec, "s;") {
			in.SPFDomain = "example.com"
		}
		got := Evaluate(context.Background(), dns, in)
		if got.Result != "pass" || dns.queried() != "_dmarc.example.com" {
			t.Errorf("%s: %s, queries %s", rec, got.Result, dns.queried())
		}
	}
}

func TestEvaluateNormalization(t *testing.T) {
	dns := zone(map[string]string{"xn--bcher-kva.example": "v=DMARC1; p=reject"})
	got := Evaluate(context.Background(), dns, Input{FromDomain: "Bücher.example", DKIM: dkimPass("XN--BCHER-KVA.example.")})
	if got.Result != "pass" || got.PolicyDomain != "xn--bcher-kva.example" {
		t.Errorf("IDN: %+v (%s)", got, got.Reason)
	}
	if len(got.Identifiers) != 1 || !got.Identifiers[0].Aligned || got.Identifiers[0].Method != "dkim" {
		t.Errorf("identifiers: %+v", got.Identifiers)
	}
}
