package dkim

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// A message over the header or body limit is not verified: each of its
// signatures (up to the cap) is reported as policy, OverLimit; under the
// limits the same message passes.
func TestLimits(t *testing.T) {
	z := zone{}
	key := genKey(t, "ed25519", "example.org", "s1", z)
	fields, body := postfixFields(t, plainMessage)
	body = []byte(strings.Repeat("a line of the body\r\n", 100))
	signed := sign(t, []Key{key}, fields, body)
	bigHeader := append([]field{}, signed...)
	for range 40 {
		bigHeader = append(bigHeader, field{"Received", " " + strings.Repeat("x", 1000)})
	}

	tests := []struct {
		name               string
		fields             []field
		maxHeader, maxBody int64
		want, reason       string
	}{
		{"within both limits", bigHeader, 64 << 10, int64(len(body)), Pass, ""},
		{"header over the limit", bigHeader, 32 << 10, 0, Policy, "header section over 32768 bytes; not verified"},
		{"body over the limit", signed, 0, int64(len(body)) - 1, Policy, fmt.Sprint("body over ", len(body)-1, " bytes; not verified")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerifier(context.Background(), z.lookup, 0)
			v.Limit(tt.maxHeader, tt.maxBody)
			feed(t, v, tt.fields, body, 512)
			rs := v.Close()
			if len(rs) != 1 || rs[0].Result != tt.want || rs[0].Reason != tt.reason || rs[0].OverLimit != (tt.want == Policy) ||
				rs[0].Unverified != (tt.want == Policy) {
				t.Fatalf("got %+v, want %s (%s)", rs, tt.want, tt.reason)
			}
			if rs[0].Domain != "example.org" || rs[0].Selector != "s1" {
				t.Errorf("the signature is not described: %+v", rs[0])
			}
		})
	}
}

// Past the header limit the Verifier keeps only the signature fields it
// will report, not the header.
func TestHeaderLimitHoldsLittle(t *testing.T) {
	v := NewVerifier(context.Background(), zone{}.lookup, 3)
	v.Limit(64<<10, 0)
	for i := range 10000 {
		v.Header("X-Filler", " "+strings.Repeat("y", 100))
		if i%100 == 0 {
			v.Header("DKIM-Signature", " v=1; a=rsa-sha256; d=example.org; s=s; h=from; bh=x; b=y")
		}
	}
	if len(v.fields) > 3+64<<10/100 {
		t.Errorf("%d fields held", len(v.fields))
	}
	v.EndHeaders()
	if err := v.Body([]byte("body\r\n")); err != nil {
		t.Fatal(err)
	}
	rs := v.Close()
	if len(rs) != 3 || v.Skipped() != 97 {
		t.Fatalf("%d results, %d skipped: %s", len(rs), v.Skipped(), results(rs))
	}
	for _, r := range rs {
		if r.Result != Policy || !r.OverLimit {
			t.Errorf("got %+v", r)
		}
	}
}

// A verification still running when its deadline comes (a body built to be
// slow) is Unverified: it vouches for nothing, for DMARC not even as a
// pass that might have been (issue 12 item 1).
func TestDeadlineUnverified(t *testing.T) {
	z := zone{}
	key := genKey(t, "ed25519", "example.org", "s1", z)
	fields, body := postfixFields(t, plainMessage)
	signed := sign(t, []Key{key}, fields, body)
	ctx, cancel := context.WithCancel(context.Background())
	v := NewVerifier(ctx, z.lookup, 0)
	for _, f := range signed {
		v.Header(f.name, f.value)
	}
	v.EndHeaders()
	if err := v.Body(body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	cancel() // the deadline, halfway through the body
	rs := v.Close()
	if len(rs) != 1 || rs[0].Result != TempError || !rs[0].Unverified {
		t.Fatalf("got %+v, want an unverified temperror", rs)
	}
}
