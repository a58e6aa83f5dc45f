package dane

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestUsableTLSA: RFC 7672 3.1's usages, selectors and matching types, and
// RFC 7671 5.1's data lengths (a malformed record is unusable).
func TestUsableTLSA(t *testing.T) {
	sha256 := strings.Repeat("ab", 32)
	sha512 := strings.Repeat("ab", 64)
	for _, tc := range []struct {
		usage, selector, mtype uint8
		data                   string
		want                   bool
	}{
		{3, 1, 1, sha256, true},
		{2, 0, 1, sha256, true},
		{3, 1, 2, sha512, true},
		{3, 0, 0, "3082", true},  // full data: any non-empty length
		{1, 1, 1, sha256, false}, // PKIX-EE: not for SMTP
		{0, 1, 1, sha256, false},
		{3, 2, 1, sha256, false}, // unknown selector
		{3, 1, 3, sha256, false}, // unknown matching type
		{3, 1, 1, sha256[:62], false},
		{3, 1, 1, sha512, false},
		{3, 1, 2, sha256, false},
		{3, 1, 0, "", false}, // what miekg/dns makes of truncated rdata
	} {
		rr := &dns.TLSA{Usage: tc.usage, Selector: tc.selector, MatchingType: tc.mtype, Certificate: tc.data}
		if got := usableTLSA(rr); got != tc.want {
			t.Errorf("%d %d %d with %d bytes: usable %v, want %v", tc.usage, tc.selector, tc.mtype, len(tc.data)/2, got, tc.want)
		}
	}
}
