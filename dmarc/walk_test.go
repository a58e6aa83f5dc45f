package dmarc

import (
	"context"
	"strings"
	"testing"
)

func TestWalkNames(t *testing.T) {
	tests := []struct {
		domain string
		want   []string
	}{
		// RFC 9989 4.10: the illustration of a full walk, eight queries.
		{"a.b.c.d.e.f.g.h.i.j.mail.example.com", []string{
			"a.b.c.d.e.f.g.h.i.j.mail.example.com",
			"g.h.i.j.mail.example.com",
			"h.i.j.mail.example.com",
			"i.j.mail.example.com",
			"j.mail.example.com",
			"mail.example.com",
			"example.com",
			"com",
		}},
		// RFC 9989 5.1.8: the zone cut at b.c.d.e.f.g.example.com is never queried.
		{"mail.a.b.c.d.e.f.g.example.com", []string{
			"mail.a.b.c.d.e.f.g.example.com",
			"c.d.e.f.g.example.com",
			"d.e.f.g.example.com",
			"e.f.g.example.com",
			"f.g.example.com",
			"g.example.com",
			"example.com",
			"com",
		}},
		// Eight labels: the parent has seven, the same thing.
		{"a.b.c.d.e.f.example.com", []string{
			"a.b.c.d.e.f.example.com", "b.c.d.e.f.example.com", "c.d.e.f.example.com",
			"d.e.f.example.com", "e.f.example.com", "f.example.com", "example.com", "com",
		}},
		{"a.mail.example.com", []string{"a.mail.example.com", "mail.example.com", "example.com", "com"}},
		{"com", []string{"com"}},
	}
	for _, tt := range tests {
		got := walkNames(tt.domain)
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("walkNames(%s)\n got %v\nwant %v", tt.domain, got, tt.want)
		}
		if len(got) > maxWalkQueries {
			t.Errorf("walkNames(%s): %d names", tt.domain, len(got))
		}
	}
}

func TestOrganizationalDomain(t *testing.T) {
	const rec = "v=DMARC1; p=none; rua=mailto:r@example.com"
	tests := []struct {
		name    string
		records map[string]string
		domain  string
		want    string
		queries string // "" = not checked
	}{
		// RFC 9989 4.10.2, the three examples.
		{"4.10.2 first", map[string]string{"mail.example.com": rec, "example.com": rec},
			"a.mail.example.com", "example.com",
			"_dmarc.a.mail.example.com _dmarc.mail.example.com _dmarc.example.com _dmarc.com"},
		{"4.10.2 psd=n", map[string]string{"mail.example.com": rec + "; psd=n", "example.com": rec},
			"a.mail.example.com", "mail.example.com",
			"_dmarc.a.mail.example.com _dmarc.mail.example.com"},
		{"4.10.2 psd=y", map[string]string{"com": "v=DMARC1; p=reject; psd=y"},
			"a.mail.example.com", "example.com", ""},
		// 4.10.2 rule 2 example: psd=y at example.com, walk from mail.example.com.
		{"4.10.2 rule 2", map[string]string{"example.com": "v=DMARC1; p=reject; psd=y"},
			"mail.example.com", "mail.example.com", ""},
		// B.4.1: example.com and signing.example.com have records, com not.
		{"B.4.1 author", map[string]string{"example.com": rec, "signing.example.com": rec},
			"example.com", "example.com", "_dmarc.example.com _dmarc.com"},
		{"B.4.1 dkim", map[string]string{"example.com": rec, "signing.example.com": rec},
			"signing.example.com", "example.com", "_dmarc.signing.example.com _dmarc.example.com _dmarc.com"},
		// B.4.2: deep tree walk, skipping the intermediate names.
		{"B.4.2 author", map[string]string{"example.com": rec, "signing.example.com": rec},
			"a.b.c.d.e.f.g.h.i.j.k.example.com", "example.com",
			"_dmarc.a.b.c.d.e.f.g.h.i.j.k.example.com _dmarc.g.h.i.j.k.example.com _dmarc.h.i.j.k.example.com " +
				"_dmarc.i.j.k.example.com _dmarc.j.k.example.com _dmarc.k.example.com _dmarc.example.com _dmarc.com"},
		// B.4.3: a PSD DMARC Policy Record.
		{"B.4.3 author", bankZone(), "giant.bank.example", "giant.bank.example",
			"_dmarc.giant.bank.example _dmarc.bank.example"},
		{"B.4.3 mail from", bankZone(), "mail.giant.bank.example", "giant.bank.example",
			"_dmarc.mail.giant.bank.example _dmarc.giant.bank.example _dmarc.bank.example"},
		{"B.4.3 dkim", bankZone(), "mail.mega.bank.example", "mega.bank.example",
			"_dmarc.mail.mega.bank.example _dmarc.mega.bank.example _dmarc.bank.example"},
		// 4.4.1: d=com never aligns, com having no record is its own.
		{"no record anywhere", nil, "com", "com", "_dmarc.com"},
		{"psd=y at the start", map[string]string{"bank.example": "v=DMARC1; p=reject; psd=y"},
			"bank.example", "bank.example", "_dmarc.bank.example"},
		{"two records count as none", map[string]string{"example.com": rec},
			"sub.example.com", "example.com", ""},
		{"case and trailing dot", map[string]string{"example.com": rec}, "Mail.EXAMPLE.com.", "example.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dns := zone(tt.records)
			if tt.name == "two records count as none" {
				dns.txt["_dmarc.sub.example.com"] = []string{"v=DMARC1; p=none; psd=n; rua=mailto:a@b.c", "v=DMARC1; p=reject"}
			}
			got, err := OrganizationalDomain(context.Background(), dns, tt.domain)
			if err != nil || got != tt.want {
				t.Fatalf("OrganizationalDomain(%s) = %q, %v; want %q", tt.domain, got, err, tt.want)
			}
			if tt.queries != "" && dns.queried() != tt.queries {
				t.Errorf("queries\n got %s\nwant %s", dns.queried(), tt.queries)
			}
		})
	}
}

// bankZone is the DNS of RFC 9989 Appendix B.4.3.
func bankZone() map[string]string {
	return map[string]string{
		"bank.example":       "v=DMARC1; p=reject; psd=y; rua=mailto:psd@bank.example",
		"giant.bank.example": "v=DMARC1; p=quarantine; rua=mailto:d@giant.bank.example",
	}
}

func TestOrganizationalDomainErrors(t *testing.T) {
	dns := zone(map[string]string{"example.com": "v=DMARC1; p=none"})
	dns.fail["_dmarc.example.com"] = true
	if got, err := OrganizationalDomain(context.Background(), dns, "a.example.com"); err == nil {
		t.Errorf("SERVFAIL: got %q, no error", got)
	}
	for _, bad := range []string{"", ".", "a..b", "exa mple.com", strings.Repeat("a", 64) + ".com"} {
		if got, err := OrganizationalDomain(context.Background(), dns, bad); err == nil {
			t.Errorf("OrganizationalDomain(%q) = %q, no error", bad, got)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := OrganizationalDomain(ctx, zone(nil), "example.com"); err == nil {
		t.Error("canceled context: no error")
	}
}
