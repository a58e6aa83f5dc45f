package dkim

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestHeaderLine(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"Subject", " hello", "Subject: hello\r\n"},
		{"Subject", "no-space", "Subject:no-space\r\n"},
		{"Subject", "  two  spaces \t", "Subject:  two  spaces \t\r\n"},
		{"To", " a@b,\n\tc@d,\n  e@f", "To: a@b,\r\n\tc@d,\r\n  e@f\r\n"},
		{"X-Empty", "", "X-Empty:\r\n"},
	}
	for _, tt := range tests {
		if got := string(HeaderLine(tt.name, tt.value)); got != tt.want {
			t.Errorf("HeaderLine(%q, %q) = %q, want %q", tt.name, tt.value, got, tt.want)
		}
	}
}

func FuzzHeaderLine(f *testing.F) {
	f.Add("Subject", " hello\n world")
	f.Add("DKIM-Signature", " v=1;\n\tb=abc")
	f.Add("X", "\n\n")
	f.Add(" From", "x\nFrom: y")
	f.Fuzz(func(t *testing.T, name, value string) {
		got := HeaderLine(name, value)
		if !bytes.HasPrefix(got, []byte(name+":")) || !bytes.HasSuffix(got, []byte("\r\n")) {
			t.Fatalf("HeaderLine(%q, %q) = %q: bad frame", name, value, got)
		}
		inner := string(got[len(name)+1 : len(got)-2])
		if !strings.Contains(value, "\r") && strings.ReplaceAll(inner, "\r\n", "\n") != value {
			t.Fatalf("HeaderLine(%q, %q) = %q: value not preserved", name, value, got)
		}
		// Whatever the field, the verifier's view of the header keeps one
		// field per Header call: the signature count cannot drift.
		v := NewVerifier(context.Background(), zone{}.lookup, 2)
		v.Header("DKIM-Signature", " v=1; d=a.example; s=s; b=x")
		v.Header(name, value)
		v.Header("DKIM-Signature", " v=1; d=b.example; s=s; b=y")
		v.EndHeaders()
		if err := v.Body([]byte("body\r\n")); err != nil {
			t.Fatal(err)
		}
		rs := v.Close()
		if len(rs) != 2 || rs[0].Domain != "a.example" {
			t.Fatalf("name %q value %q: results %+v", name, value, rs)
		}
		for _, r := range rs {
			if r.Result == Pass {
				t.Fatalf("unsigned junk passed: %+v", r)
			}
		}
	})
}
