package dmarc

import (
	"fmt"
	"strings"
	"testing"
)

// TestParseRecordCapsURIs: a record listing thousands of report URIs keeps
// the first MaxReportURIs valid ones, in order, and does not parse the
// rest (issue 18: 3,315 rua= URIs on every message).
func TestParseRecordCapsURIs(t *testing.T) {
	many := func(n int) string {
		u := make([]string, n)
		for i := range u {
			u[i] = fmt.Sprintf("mailto:r%d@example.com", i)
		}
		return strings.Join(u, ",")
	}
	tests := []struct {
		name, rua string
		want      []string
	}{
		{"two", "mailto:a@example.com,mailto:b@example.com", []string{"mailto:a@example.com", "mailto:b@example.com"}},
		{"3,315", many(3315), []string{"mailto:r0@example.com", "mailto:r1@example.com", "mailto:r2@example.com", "mailto:r3@example.com"}},
		{"invalid ones skipped, not counted", "nope, ,:x,mailto:a@x.example!10m," + many(10),
			[]string{"mailto:a@x.example", "mailto:r0@example.com", "mailto:r1@example.com", "mailto:r2@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRecord("v=DMARC1; p=reject; rua=" + tt.rua + "; ruf=" + tt.rua)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(r.RUA) != fmt.Sprint(tt.want) || fmt.Sprint(r.RUF) != fmt.Sprint(tt.want) {
				t.Errorf("rua %q ruf %q, want %q", r.RUA, r.RUF, tt.want)
			}
		})
	}
	// The work does not grow with the list: 100 times the URIs, about the
	// same allocations.
	small, big := "v=DMARC1; p=none; rua="+many(33), "v=DMARC1; p=none; rua="+many(3315)
	a := testing.AllocsPerRun(20, func() { ParseRecord(small) })
	b := testing.AllocsPerRun(20, func() { ParseRecord(big) })
	if b > a+5 {
		t.Errorf("%v allocations for 3,315 URIs, %v for 33", b, a)
	}
}
