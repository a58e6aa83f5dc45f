package dkim

import (
	"bytes"
	"strings"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// RFC 6376 section 3.4.6: the canonicalization example. The message as
// sent, and a copy whose white space differs only where relaxed
// canonicalization says it does not matter (it canonicalizes to the same
// "a:X", "b:Y Z", " C" / "D E" as the RFC's own result).
const (
	rfc6376Message = "A: X\r\n" +
		"B : Y\t\r\n" +
		"\tZ  \r\n" +
		"From: <sender@example.com>\r\n" +
		"\r\n" +
		" C \r\n" +
		"D \t E\r\n" +
		"\r\n" +
		"\r\n"
	rfc6376Variant = "a:X\r\n" +
		"b:Y\r\n Z\r\n" +
		"From: <sender@example.com>\r\n" +
		"\r\n" +
		" C\r\n" +
		"D E\r\n"
)

func TestRFC6376CanonicalizationExample(t *testing.T) {
	z := zone{}
	key := genKey(t, "ed25519", "example.com", "rfc", z)
	tests := []struct {
		name            string
		canon           msgdkim.Canonicalization
		original, copy_ string // expected results for the message as sent and for the variant
	}{
		{"relaxed/relaxed", msgdkim.CanonicalizationRelaxed, Pass, Pass},
		{"simple/simple", msgdkim.CanonicalizationSimple, Pass, Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var signed bytes.Buffer
			err := msgdkim.Sign(&signed, strings.NewReader(rfc6376Message), &msgdkim.SignOptions{
				Domain: "example.com", Selector: "rfc", Signer: key.Signer,
				HeaderCanonicalization: tt.canon, BodyCanonicalization: tt.canon,
				HeaderKeys: []string{"A", "B", "From"}})
			if err != nil {
				t.Fatal(err)
			}
			sig, _, _ := strings.Cut(signed.String(), "A: X")
			for _, c := range []struct{ msg, want string }{{rfc6376Message, tt.original}, {rfc6376Variant, tt.copy_}} {
				fields, body := postfixFields(t, sig+c.msg)
				got := verify(t, z, fields, body, 3)
				if len(got) != 1 || got[0].Result != c.want {
					t.Errorf("%q: %s, want %s", c.msg, results(got), c.want)
				}
			}
		})
	}
}

// RFC 6376 section 3.6.1: h= in the key record lists the hash algorithms the
// key may be used with; a sha256 signature under a key limited to sha1 must
// not pass.
func TestKeyRecordHashAlgorithms(t *testing.T) {
	z := zone{}
	key := genKey(t, "rsa", "example.com", "h", z)
	fields, body := postfixFields(t, "From: <a@example.com>\r\nSubject: h=\r\n\r\nbody\r\n")
	signed := sign(t, []Key{key}, fields, body)
	rec := z["h._domainkey.example.com"].(string)
	for _, tt := range []struct{ h, want string }{{"", Pass}, {"h=sha256; ", Pass}, {"h=sha1:sha256; ", Pass}, {"h=sha1; ", "not pass"}} {
		z["h._domainkey.example.com"] = strings.Replace(rec, "v=DKIM1; ", "v=DKIM1; "+tt.h, 1)
		got := verify(t, z, signed, body, 7)
		pass := len(got) == 1 && got[0].Result == Pass
		if pass != (tt.want == Pass) {
			t.Errorf("key record %q: %s, want %s", tt.h, results(got), tt.want)
		}
	}
}
