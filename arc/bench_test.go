package arc

import (
	"context"
	"strings"
	"testing"
)

// Figures for docs/BENCHMARKS.md-style reporting; nothing is asserted.
func benchVerify(b *testing.B, raw string, k keys) {
	b.ReportAllocs()
	for b.Loop() {
		message(b, raw, k.z, Options{}).Verify(context.Background())
	}
}

func BenchmarkVerifyOneHop(b *testing.B) {
	k := testKeys(b)
	benchVerify(b, seal(b, readTestdata(b, "message.eml"), k.z, k.a, nil), k)
}

func BenchmarkVerifyFiftyHops(b *testing.B) {
	k := testKeys(b)
	raw := readTestdata(b, "message.eml")
	for range MaxInstances {
		raw = seal(b, raw, k.z, k.a, nil)
	}
	benchVerify(b, raw, k)
}

func BenchmarkVerifyTenThousandFields(b *testing.B) {
	k := testKeys(b)
	benchVerify(b, strings.Repeat("ARC-Seal: i=1; a=rsa-sha256; cv=none; d=x; s=y; b=AAAA\r\n", 10000)+readTestdata(b, "message.eml"), k)
}

func BenchmarkSeal(b *testing.B) {
	k := testKeys(b)
	raw := readTestdata(b, "message.eml")
	b.ReportAllocs()
	for b.Loop() {
		seal(b, raw, k.z, k.a, nil)
	}
}

// The common case: a message without ARC fields.
func BenchmarkNoChain(b *testing.B) {
	k := testKeys(b)
	fs, body := fields(b, readTestdata(b, "message.eml"))
	b.ReportAllocs()
	for b.Loop() {
		m := New(k.z.lookup, Options{})
		for _, f := range fs {
			m.Header(f.name, f.value)
		}
		m.EndHeaders()
		m.Body(body)
		m.Verify(context.Background())
	}
}
