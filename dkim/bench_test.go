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

// BenchmarkVerifyBlankBody is issue 12's hostile body: 10 MB of empty
// lines, or of lines holding one space, with five signatures, fed in
// Postfix's 65,535-byte chunks. "runs" is 10 MB of 512 KiB runs of empty
// lines each ended by a line of text: runs under the 1 MiB limit are
// replayed to go-msgauth, whose simple canonicalizer copies a held run on
// every write, so this is the costliest body that is still verified.
func BenchmarkVerifyBlankBody(b *testing.B) {
	const size = 10 << 20
	runs := strings.Repeat("\r\n", 256<<10) + "text\r\n"
	for _, tc := range []struct {
		name, line string
		canons     []string
	}{
		{"crlf/mixed", "\r\n", mixedCanons},
		{"wsp/mixed", " \r\n", mixedCanons},
		{"wsp/relaxed", " \r\n", relaxedCanons},
		{"wsp/simple", " \r\n", simpleCanons},
		{"runs/mixed", runs, mixedCanons},
	} {
		b.Run(tc.name, func(b *testing.B) {
			z := zone{}
			body := repeatBody(tc.line, size)
			fields := hostileMessage(b, z, body, tc.canons)
			ctx := context.Background()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				v := NewVerifier(ctx, z.lookup, 0)
				feed(b, v, fields, body, postfixChunk)
				if r := v.Close(); len(r) != len(tc.canons) {
					b.Fatal(results(r))
				}
			}
		})
	}
}
