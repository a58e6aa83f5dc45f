package arc

import (
	"context"
	"strings"
	"testing"
)

// FuzzChain feeds arbitrary ARC header fields (around a real sealed
// chain) and bodies to the verifier: it must neither panic nor hang, must
// give none, pass or fail, and a pass must name as many sealers as sets.
func FuzzChain(f *testing.F) {
	k := testKeys(f)
	raw := seal(f, seal(f, readTestdata(f, "message.eml"), k.z, k.a, nil), k.z, k.b, nil)
	fs, body := fields(f, raw)
	var aas []string
	for _, fl := range fs {
		if kindOf(fl.name) != kindOther {
			aas = append(aas, fl.name+":"+fl.value)
		}
	}
	f.Add(strings.Join(aas, "\x00"), string(body))
	f.Add("ARC-Seal: i=1; cv=none\x00ARC-Message-Signature: i=1; h=from\x00ARC-Authentication-Results: i=1; x", "")
	f.Add("ARC-Seal: i=01; cv=none; b=;\x00ARC-Seal: i=1;", "\r\n\r\n")
	f.Fuzz(func(t *testing.T, arcFields, body string) {
		m := New(k.z.lookup, Options{MaxLookups: 4})
		for _, fl := range strings.Split(arcFields, "\x00") {
			name, value, _ := strings.Cut(fl, ":")
			m.Header(name, value)
		}
		for _, fl := range fs {
			if kindOf(fl.name) == kindOther {
				m.Header(fl.name, fl.value)
			}
		}
		m.EndHeaders()
		m.Body([]byte(body))
		r := m.Verify(context.Background())
		switch r.Result {
		case None, Fail:
		case Pass:
			if len(r.Sealers) != r.Instances || r.Instances == 0 {
				t.Fatalf("pass with %d sets, sealers %v", r.Instances, r.Sealers)
			}
		default:
			t.Fatalf("result %q", r.Result)
		}
	})
}

// FuzzParseInstance: any value gives an instance in 1…50 or an error.
func FuzzParseInstance(f *testing.F) {
	f.Add(NameAS, " i=1; cv=none")
	f.Add(NameAAR, " i=50; x")
	f.Add(NameAMS, "i=99")
	f.Fuzz(func(t *testing.T, name, value string) {
		n, err := ParseInstance(name, value)
		if err == nil && (n < 1 || n > MaxInstances) {
			t.Fatalf("%q: instance %d", value, n)
		}
	})
}
