package arc

import (
	"context"
	"strings"
	"testing"
)

// Figures for docs/BENCHMARKS.md-style reporting; nothing is asserted.
// The message is split into fields once, outside the loop: the figures
// are the verifier's own, from the first Header to the result.
func benchVerify(b *testing.B, raw string, k keys) {
	fs, body := fields(b, raw)
	b.ReportAllocs()
	for b.Loop() {
		m := New(k.z.lookup, Options{})
		for _, f := range fs {
			m.Header(f.name, f.value)
		}
		m.EndHeaders()
		m.Prefetch(context.Background())
		m.Body(body)
		if r := m.Verify(context.Background()); r.Result == None {
			b.Fatal("no chain")
		}
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
