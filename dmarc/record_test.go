package dmarc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseRecord(t *testing.T) {
	def := func(mod func(*Record)) *Record {
		r := &Record{Policy: "none", ADKIM: 'r', ASPF: 'r', PSD: "u", FO: "0"}
		if mod != nil {
			mod(r)
		}
		return r
	}
	tests := []struct {
		name, txt string
		want      *Record
		err       error
	}{
		// RFC 9989 Appendix B.2.1: entire domain, monitoring mode.
		{"B.2.1", "v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com",
			def(func(r *Record) { r.RUA = []string{"mailto:dmarc-feedback@example.com"} }), nil},
		// B.2.2: TXT character-strings concatenated (4.5).
		{"B.2.2", "v=DMARC1; p=none; " + "rua=mailto:dmarc-feedback@example.com; " + "ruf=mailto:auth-reports@example.com",
			def(func(r *Record) {
				r.RUA = []string{"mailto:dmarc-feedback@example.com"}
				r.RUF = []string{"mailto:auth-reports@example.com"}
			}), nil},
		// B.2.3: failure reports directed to a third party.
		{"B.2.3", "v=DMARC1; p=none; " + "rua=mailto:dmarc-feedback@example.com; " + "ruf=mailto:auth-reports@thirdparty.example.net",
			def(func(r *Record) {
				r.RUA = []string{"mailto:dmarc-feedback@example.com"}
				r.RUF = []string{"mailto:auth-reports@thirdparty.example.net"}
			}), nil},
		// B.2.4: the report consumer's authorization record has no p and no rua.
		{"B.2.4 authorization record", "v=DMARC1;", nil, ErrInvalidPolicy},
		// B.2.5: subdomain, testing, multiple rua; the strings join without a space.
		{"B.2.5 testing", "v=DMARC1; p=quarantine; " + "rua=mailto:dmarc-feedback@example.com," + "mailto:tld-test@thirdparty.example.net; " + "t=y",
			def(func(r *Record) {
				r.Policy, r.Test = "quarantine", true
				r.RUA = []string{"mailto:dmarc-feedback@example.com", "mailto:tld-test@thirdparty.example.net"}
			}), nil},
		{"B.2.5 enforced", "v=DMARC1; p=reject; " + "rua=mailto:dmarc-feedback@example.com," + "mailto:tld-test@thirdparty.example.net",
			def(func(r *Record) {
				r.Policy = "reject"
				r.RUA = []string{"mailto:dmarc-feedback@example.com", "mailto:tld-test@thirdparty.example.net"}
			}), nil},
		// B.3.1, the record spread over two lines in the RFC.
		{"B.3.1", "v=DMARC1; p=reject; aspf=r; rua=mailto:dmarc-feedback@example.com",
			def(func(r *Record) { r.Policy, r.RUA = "reject", []string{"mailto:dmarc-feedback@example.com"} }), nil},

		{"uppercase values", "v=DMARC1; P=Reject; SP=QUARANTINE; np=None; adkim=S; aspf=s; t=Y; psd=N; fo=D : S",
			def(func(r *Record) {
				r.Policy, r.SubdomainPolicy, r.NonexistentPolicy = "reject", "quarantine", "none"
				r.ADKIM, r.ASPF, r.Test, r.PSD, r.FO = 's', 's', true, "n", "d:s"
			}), nil},
		{"p need not follow v", "v=DMARC1; rua=mailto:a@example.com; p=reject",
			def(func(r *Record) { r.Policy, r.RUA = "reject", []string{"mailto:a@example.com"} }), nil},
		{"whitespace and trailing separator", "v = DMARC1 ;\tp = quarantine ; psd=y;",
			def(func(r *Record) { r.Policy, r.PSD = "quarantine", "y" }), nil},
		{"removed tags still parse", "v=DMARC1; p=reject; pct=20; rf=afrf; ri=3600",
			def(func(r *Record) { r.Policy = "reject" }), nil},
		{"removed tags with bad values", "v=DMARC1; p=reject; pct=abc; rf=x; ri=-1",
			def(func(r *Record) { r.Policy = "reject" }), nil},
		{"unknown tags ignored", "v=DMARC1; p=reject; foo=bar; x=1",
			def(func(r *Record) { r.Policy = "reject" }), nil},
		{"bad optional tags take defaults", "v=DMARC1; p=reject; adkim=x; aspf=; t=maybe; psd=q; fo=0:1",
			def(func(r *Record) { r.Policy = "reject" }), nil},
		{"first duplicate wins", "v=DMARC1; p=reject; p=none",
			def(func(r *Record) { r.Policy = "reject" }), nil},
		{"obsolete report size dropped", "v=DMARC1; p=none; rua=mailto:a@example.com!10m, mailto:b@example.com!50",
			def(func(r *Record) { r.RUA = []string{"mailto:a@example.com", "mailto:b@example.com"} }), nil},
		{"invalid URIs dropped", "v=DMARC1; p=none; rua=not a uri, mailto:ok@example.com",
			def(func(r *Record) { r.RUA = []string{"mailto:ok@example.com"} }), nil},

		// RFC 9989 4.10.1: an invalid p, sp or np with a valid rua is p=none.
		{"invalid p rescued by rua", "v=DMARC1; p=rejetc; rua=mailto:a@example.com",
			def(func(r *Record) { r.RUA = []string{"mailto:a@example.com"} }), nil},
		{"invalid sp rescued by rua", "v=DMARC1; p=reject; sp=bogus; np=reject; rua=mailto:a@example.com",
			def(func(r *Record) { r.RUA = []string{"mailto:a@example.com"} }), nil},
		{"absent p rescued by rua", "v=DMARC1; rua=mailto:a@example.com",
			def(func(r *Record) { r.RUA = []string{"mailto:a@example.com"} }), nil},
		{"invalid p", "v=DMARC1; p=rejetc", nil, ErrInvalidPolicy},
		{"invalid np", "v=DMARC1; p=reject; np=deny", nil, ErrInvalidPolicy},
		{"invalid p, invalid rua", "v=DMARC1; p=x; rua=nope", nil, ErrInvalidPolicy},
		{"absent p", "v=DMARC1; adkim=s", nil, ErrInvalidPolicy},

		// RFC 9989 4.7 "v": first, value case-sensitive.
		{"v lowercase value", "v=dmarc1; p=reject", nil, ErrNotDMARC},
		{"v not first", "p=reject; v=DMARC1", nil, ErrNotDMARC},
		{"v missing", "p=reject", nil, ErrNotDMARC},
		{"v other version", "v=DMARC2; p=reject", nil, ErrNotDMARC},
		{"spf record", "v=spf1 -all", nil, ErrNotDMARC},
		{"empty", "", nil, ErrNotDMARC},
		{"v name uppercase", "V=DMARC1; p=none", def(nil), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRecord(tt.txt)
			if !errors.Is(err, tt.err) {
				t.Fatalf("ParseRecord(%q) error %v, want %v", tt.txt, err, tt.err)
			}
			if tt.want == nil {
				if got != nil {
					t.Fatalf("got record %+v with error", got)
				}
				return
			}
			tt.want.raw = tt.txt
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseRecord(%q)\n got %#v\nwant %#v", tt.txt, *got, *tt.want)
			}
			if got.String() != tt.txt {
				t.Errorf("String() = %q", got.String())
			}
		})
	}
}

func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		"v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com",
		"v=DMARC1; p=quarantine; rua=mailto:a@example.com,mailto:b@example.net; t=y",
		"v=DMARC1; P=Reject; sp=none; np=reject; adkim=s; aspf=s; psd=y; fo=1:d:s; pct=50",
		"v=DMARC1; p=bogus; rua=mailto:a@example.com!10m",
		"v=DMARC1;;; =; p==; ruf=,,,",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, txt string) {
		r, err := ParseRecord(txt)
		if err != nil {
			if r != nil || !(errors.Is(err, ErrNotDMARC) || errors.Is(err, ErrInvalidPolicy)) {
				t.Fatalf("ParseRecord(%q) = %v, %v", txt, r, err)
			}
			return
		}
		if !strings.HasPrefix(strings.TrimLeft(txt, " \t"), "v") && !strings.HasPrefix(strings.TrimLeft(txt, " \t"), "V") {
			t.Fatalf("accepted %q without a leading v", txt)
		}
		for _, p := range []string{r.Policy, r.SubdomainPolicy, r.NonexistentPolicy} {
			if p != "" && p != PolicyNone && p != PolicyQuarantine && p != PolicyReject {
				t.Fatalf("policy %q from %q", p, txt)
			}
		}
		if r.Policy == "" || (r.ADKIM != 'r' && r.ADKIM != 's') || (r.ASPF != 'r' && r.ASPF != 's') ||
			(r.PSD != "y" && r.PSD != "n" && r.PSD != "u") || r.FO == "" {
			t.Fatalf("bad record %+v from %q", r, txt)
		}
	})
}
