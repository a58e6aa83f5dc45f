package dkim

import (
	"context"
	"slices"
	"testing"
)

// FuzzVerifySignature feeds arbitrary DKIM-Signature values and bodies to
// the verifier against a real key: it must neither panic nor hang, and must
// give exactly one RFC 8601 word.
func FuzzVerifySignature(f *testing.F) {
	z := rfc8463Zone(f)
	fields, body := postfixFields(f, readTestdata(f, "rfc8463.eml"))
	f.Add(fields[0].value, string(body))
	f.Add(fields[1].value, "")
	f.Add(" v=1; a=ed25519-sha256; d=football.example.com; s=brisbane; h=from; bh=; b=; l=1", "x")
	f.Fuzz(func(t *testing.T, sig, body string) {
		v := NewVerifier(context.Background(), z.lookup, 0)
		v.Header("DKIM-Signature", sig)
		for _, f := range fields[2:] {
			v.Header(f.name, f.value)
		}
		v.EndHeaders()
		if err := v.Body([]byte(body)); err != nil {
			t.Fatal(err)
		}
		rs := v.Close()
		words := []string{Pass, Fail, Neutral, Policy, TempError, PermError}
		if len(rs) != 1 || !slices.Contains(words, rs[0].Result) {
			t.Fatalf("sig %q: %+v", sig, rs)
		}
	})
}
