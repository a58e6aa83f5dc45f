package domainname

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"Example.ORG.", "example.org", ""},
		{"bücher.example", "xn--bcher-kva.example", ""},
		{"XN--BCHER-KVA.example", "xn--bcher-kva.example", ""},
		{"_dmarc.example.org", "_dmarc.example.org", ""},
		{"xn--a.example", "", "not a valid domain name"},
		{"exa$mple.org", "", `has the character '$'`},
		{"a..b", "", "empty or longer than 63"},
		{strings.Repeat("a", 64) + ".org", "", "empty or longer than 63"},
		{strings.Repeat("a.", 127) + "org", "", "longer than 253"},
		{"", "", "empty"},
	}
	for _, tt := range tests {
		got, err := Normalize(tt.in)
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Normalize(%q) = %q, %v; want %q, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}
