package dkim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// TestRFC8463 verifies the RFC 8463 Appendix A message, signed with both
// Ed25519 and RSA, fed field by field and in body chunks of several sizes.
func TestRFC8463(t *testing.T) {
	z := rfc8463Zone(t)
	fields, body := postfixFields(t, readTestdata(t, "rfc8463.eml"))
	want := []Result{
		{Result: Pass, Domain: "football.example.com", Selector: "brisbane", Algorithm: "ed25519-sha256", BPrefix: "/gCrinpc", Identity: "@football.example.com"},
		{Result: Pass, Domain: "football.example.com", Selector: "test", Algorithm: "rsa-sha256", BPrefix: "F45dVWDf", Identity: "@football.example.com"},
	}
	for _, size := range []int{1, 7, 65536} {
		got := verify(t, z, fields, body, size)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("chunk %d:\n got %+v\nwant %+v", size, got, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	z := zone{}
	rsaKey := genKey(t, "rsa", "example.org", "r1", z)
	edKey := genKey(t, "ed25519", "example.org", "e1", z)
	fields, body := postfixFields(t, plainMessage)
	for _, keys := range [][]Key{{rsaKey}, {edKey}, {rsaKey, edKey}} {
		signed := sign(t, keys, fields, body)
		for i := range keys {
			if !strings.HasPrefix(signed[i].value, " v=1;") && !strings.HasPrefix(signed[i].value, " a=") {
				t.Errorf("signature value %q lacks its leading space", signed[i].value)
			}
			if strings.Contains(signed[i].value, "\r") {
				t.Errorf("signature value %q folds with CR", signed[i].value)
			}
		}
		got := verify(t, z, signed, body, 3)
		if len(got) != len(keys) {
			t.Fatalf("%d results for %d keys", len(got), len(keys))
		}
		for i, r := range got {
			if r.Result != Pass || r.Selector != keys[i].Selector || r.Domain != "example.org" {
				t.Errorf("key %s: %+v", keys[i].Selector, r)
			}
		}
	}
}

// TestSimpleSimple proves the header block is rebuilt byte-exact: a
// c=simple/simple signature made by go-msgauth over odd spacing survives
// the trip through Postfix-style fields.
func TestSimpleSimple(t *testing.T) {
	z := zone{}
	k := genKey(t, "rsa", "example.org", "simple", z)
	raw := strings.ReplaceAll(plainMessage, "\n", "\r\n")
	var out strings.Builder
	err := msgdkim.Sign(&out, strings.NewReader(raw), &msgdkim.SignOptions{
		Domain: k.Domain, Selector: k.Selector, Signer: k.Signer,
		HeaderKeys: []string{"From", "To", "Subject", "Date"},
	})
	if err != nil {
		t.Fatal(err)
	}
	fields, body := postfixFields(t, out.String())
	if got := verify(t, z, fields, body, 10); len(got) != 1 || got[0].Result != Pass {
		t.Fatalf("simple/simple: %+v", got)
	}
	// Control: rebuilding as name ": " trimmed value, as some milters do,
	// breaks it.
	for i := range fields {
		fields[i].value = " " + strings.TrimLeft(fields[i].value, " ")
		if fields[i].name == "Subject" {
			fields[i].value = " spaced subject"
		}
	}
	if got := verify(t, z, fields, body, 10); got[0].Result != Fail {
		t.Fatalf("altered simple header: %+v", got)
	}
}

func TestVerifyOutcomes(t *testing.T) {
	z := zone{}
	k := genKey(t, "rsa", "example.org", "sel", z)
	fields, body := postfixFields(t, plainMessage)
	signed := sign(t, []Key{k}, fields, body)
	sig := signed[0].value

	// withSig returns the signed fields with the signature value edited.
	withSig := func(edit func(string) string) []field {
		out := append([]field(nil), signed...)
		out[0].value = edit(sig)
		return out
	}
	withKey := func(rec any) zone { return zone{"sel._domainkey.example.org": rec} }
	short := shortRSARecord(t)

	tests := []struct {
		name   string
		z      zone
		fields []field
		body   string
		want   string
		reason string
	}{
		{"pass", z, signed, string(body), Pass, ""},
		{"tampered body", z, signed, string(body) + "P.S. pay me\r\n", Fail, "body hash did not verify"},
		{"added From", z, append(signed, field{"From", " Mallory <m@evil.example>"}), string(body), Fail, "signature did not verify"},
		{"dns timeout", withKey(&net.DNSError{Err: "i/o timeout", IsTimeout: true}), signed, string(body), TempError, "key unavailable"},
		{"wrapped servfail", withKey(fmt.Errorf("resolver: %w", &net.DNSError{Err: "server misbehaving", IsTemporary: true})), signed, string(body), TempError, "key unavailable"},
		{"context deadline", withKey(fmt.Errorf("lookup: %w", context.DeadlineExceeded)), signed, string(body), TempError, "key unavailable"},
		{"nxdomain", zone{}, signed, string(body), PermError, "no key for signature"},
		{"revoked key", withKey("v=DKIM1; k=rsa; p="), signed, string(body), PermError, "key revoked"},
		{"two key records", withKey([]string{z["sel._domainkey.example.org"].(string), "v=DKIM1; p="}), signed, string(body), PermError, "multiple TXT records"},
		{"short key", withKey(short), signed, string(body), Policy, "key is too short"},
		{"rsa-sha1", z, withSig(func(s string) string { return strings.Replace(s, "a=rsa-sha256", "a=rsa-sha1", 1) }), string(body), Fail, "too weak"},
		{"l= tag", z, withSig(func(s string) string { return strings.Replace(s, " v=1;", " v=1; l=10;", 1) }), string(body), Policy, "body length"},
		{"expired", z, withSig(func(s string) string { return strings.Replace(s, " v=1;", " v=1; x=1000;", 1) }), string(body), PermError, "expired"},
		{"t=s subdomain i=", withKey(strings.Replace(z["sel._domainkey.example.org"].(string), "v=DKIM1;", "v=DKIM1; t=s;", 1)),
			sign(t, []Key{k}, fields, body), string(body), Pass, ""},
		{"garbage signature", z, []field{{"DKIM-Signature", " v=1; d=example.org; junk"}, {"From", " a@example.org"}}, "x\r\n", PermError, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := verify(t, tt.z, tt.fields, []byte(tt.body), 4096)
			if len(got) != 1 || got[0].Result != tt.want || !strings.Contains(got[0].Reason, tt.reason) {
				t.Fatalf("got %+v, want %s (%s)", got, tt.want, tt.reason)
			}
		})
	}
}

// TestStrictKeyFlag checks t=s (RFC 6376 3.6.1): i= in a subdomain of d=
// is refused, i= in d= itself passes.
func TestStrictKeyFlag(t *testing.T) {
	z := zone{}
	k := genKey(t, "ed25519", "example.org", "sel", z)
	z["sel._domainkey.example.org"] = strings.Replace(z["sel._domainkey.example.org"].(string), "v=DKIM1;", "v=DKIM1; t=s;", 1)
	fields, body := postfixFields(t, plainMessage)
	for _, tt := range []struct{ id, want string }{{"a@example.org", Pass}, {"a@sub.example.org", PermError}} {
		s, err := msgdkim.NewSigner(&msgdkim.SignOptions{Domain: k.Domain, Selector: k.Selector, Signer: k.Signer, Identifier: tt.id,
			HeaderCanonicalization: "relaxed", BodyCanonicalization: "relaxed", HeaderKeys: []string{"From"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fields {
			s.Write(HeaderLine(f.name, f.value))
		}
		s.Write([]byte("\r\n"))
		s.Write(body)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		signed := append([]field{{"DKIM-Signature", insertValue(s.Signature())}}, fields...)
		if got := verify(t, z, signed, body, 100); got[0].Result != tt.want {
			t.Errorf("i=%s: %+v, want %s", tt.id, got, tt.want)
		}
	}
}

// shortRSARecord is a key record for a 512-bit RSA key. RFC 8301 3.2
// forbids accepting it; no signature is needed, the key check comes first.
func shortRSARecord(t *testing.T) string {
	n, err := rand.Prime(rand.Reader, 512)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n.Mul(n, big.NewInt(1)), E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
}

func TestSignatureCap(t *testing.T) {
	z := zone{}
	k := genKey(t, "ed25519", "example.org", "sel", z)
	fields, body := postfixFields(t, plainMessage)
	signed := sign(t, []Key{k, k, k, k, k, k}, fields, body)
	v := NewVerifier(context.Background(), z.lookup, 5)
	feed(t, v, signed, body, 1000)
	got := v.Close()
	if len(got) != 5 || v.Skipped() != 1 {
		t.Fatalf("%d results, %d skipped; want 5 and 1", len(got), v.Skipped())
	}
	for _, r := range got {
		if r.Result != Pass {
			t.Errorf("%+v", r)
		}
	}
}

// TestCancel: a lookup that hangs until ctx ends gives temperror, and Body
// and Close return instead of blocking.
func TestCancel(t *testing.T) {
	z := zone{"sel._domainkey.example.org": func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	fields, body := postfixFields(t, plainMessage)
	k := genKey(t, "ed25519", "example.org", "sel", zone{})
	signed := sign(t, []Key{k}, fields, body)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	v := NewVerifier(ctx, z.lookup, 0)
	for _, f := range signed {
		v.Header(f.name, f.value)
	}
	v.EndHeaders()
	start := time.Now()
	err := v.Body(body)
	got := v.Close()
	if time.Since(start) > 2*time.Second {
		t.Fatal("Body/Close blocked past the deadline")
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Body: %v", err)
	}
	if len(got) != 1 || got[0].Result != TempError {
		t.Fatalf("%+v", got)
	}
}

func TestUnsignedAllocs(t *testing.T) {
	fields, body := postfixFields(t, plainMessage+"Received: from x\r\n")
	ctx := context.Background()
	lookup := zone{}.lookup
	allocs := testing.AllocsPerRun(100, func() {
		v := NewVerifier(ctx, lookup, 0)
		for _, f := range fields {
			v.Header(f.name, f.value)
		}
		v.EndHeaders()
		v.Body(body)
		v.Body(body)
		if v.Close() != nil {
			panic("results for an unsigned message")
		}
	})
	if allocs > 1 {
		t.Fatalf("unsigned message: %v allocations, want ≤ 1", allocs)
	}
}

// TestAbort: an aborted message leaves no goroutine behind, for the
// verifier (also when only ctx ends) and for the signer.
func TestAbort(t *testing.T) {
	z := zone{}
	k := genKey(t, "ed25519", "example.org", "sel", z)
	fields, body := postfixFields(t, plainMessage)
	signed := sign(t, []Key{k}, fields, body)
	before := runtime.NumGoroutine()

	v := NewVerifier(context.Background(), z.lookup, 0)
	feed(t, v, signed, body[:10], 10)
	v.Abort()

	ctx, cancel := context.WithCancel(context.Background())
	v = NewVerifier(ctx, z.lookup, 0)
	feed(t, v, signed, body[:10], 10)
	cancel()

	s, _ := NewSigner([]Key{k, k})
	feed(t, s, fields, body[:10], 10)
	s.Abort()
	if _, err := s.Close(); err == nil {
		t.Error("Close after Abort succeeded")
	}

	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines left behind", n-before)
	}
}
