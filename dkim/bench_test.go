package dkim

import (
	"context"
	"strings"
	"testing"
)

// benchMessage is a 6 KB message, the size DESIGN.md's throughput figures use.
func benchMessage(b *testing.B) ([]field, []byte) {
	para := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n"
	raw := plainMessage + strings.Repeat(para, 6*1024/len(para))
	return postfixFields(b, raw)
}

func benchVerify(b *testing.B, algo string) {
	z := zone{}
	k := genKey(b, algo, "example.org", "bench", z)
	fields, body := benchMessage(b)
	signed := sign(b, []Key{k}, fields, body)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v := NewVerifier(ctx, z.lookup, 0)
		for _, f := range signed {
			v.Header(f.name, f.value)
		}
		v.EndHeaders()
		v.Body(body)
		if r := v.Close(); r[0].Result != Pass {
			b.Fatal(r)
		}
	}
}

func benchSign(b *testing.B, algo string) {
	k := genKey(b, algo, "example.org", "bench", zone{})
	fields, body := benchMessage(b)
	b.ReportAllocs()
	for b.Loop() {
		s, _ := NewSigner([]Key{k})
		for _, f := range fields {
			s.Header(f.name, f.value)
		}
		s.EndHeaders()
		s.Body(body)
		if _, err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRSA2048(b *testing.B) { benchVerify(b, "rsa") }
func BenchmarkVerifyEd25519(b *testing.B) { benchVerify(b, "ed25519") }
func BenchmarkSignRSA2048(b *testing.B)   { benchSign(b, "rsa") }
func BenchmarkSignEd25519(b *testing.B)   { benchSign(b, "ed25519") }

// BenchmarkVerifyUnsigned is the cost for the common unsigned message.
func BenchmarkVerifyUnsigned(b *testing.B) {
	fields, body := benchMessage(b)
	ctx, lookup := context.Background(), zone{}.lookup
	b.ReportAllocs()
	for b.Loop() {
		v := NewVerifier(ctx, lookup, 0)
		for _, f := range fields {
			v.Header(f.name, f.value)
		}
		v.EndHeaders()
		v.Body(body)
		v.Close()
	}
}
