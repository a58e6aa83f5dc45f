package arc

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// A chain of 50 sets verifies; the 51st seal is refused.
func TestFiftyInstances(t *testing.T) {
	k := testKeys(t)
	raw := readTestdata(t, "message.eml")
	for range MaxInstances {
		raw = seal(t, raw, k.z, k.a, nil)
	}
	r := verify(t, raw, k.z)
	if r.Result != Pass || r.Instances != 50 {
		t.Fatalf("%+v", r)
	}
	// 50 AS + 50 AMS (oldest-pass), one key lookup.
	if r.Signatures != 100 {
		t.Errorf("%d signatures verified", r.Signatures)
	}
	m := message(t, raw, k.z, Options{Seal: true})
	if _, err := m.Seal(context.Background(), k.a, "mx.list.example; arc=pass", "", testNow.Unix()); !errors.Is(err, ErrNoSeal) {
		t.Fatalf("51st seal: %v", err)
	}
}

// A failed chain is sealed with cv=fail only; the AS covers only the new
// set, so the chain stays failed for every later hop.
func TestSealFailedChain(t *testing.T) {
	k := testKeys(t)
	raw := seal(t, readTestdata(t, "message.eml"), k.z, k.a, nil)
	raw = strings.Replace(raw, "Hello list", "Hello there", 1) // AMS(1) breaks
	raw = seal(t, raw, k.z, k.b, nil)
	if !strings.Contains(raw, "i=2; a=rsa-sha256; d=fwd.example; s=seal; t=") || !strings.Contains(raw, "cv=fail") {
		t.Fatalf("second seal:\n%s", raw[:600])
	}
	raw = seal(t, raw, k.z, k.c, nil)
	if strings.Count(raw, "cv=fail") != 2 {
		t.Fatal("third hop did not keep cv=fail")
	}
	if r := verify(t, raw, k.z); r.Result != Fail {
		t.Fatalf("%+v", r)
	}
}

// A broken structure (a gap) gets the next number after the highest.
func TestSealBrokenStructure(t *testing.T) {
	k := testKeys(t)
	raw := seal(t, readTestdata(t, "message.eml"), k.z, k.a, &sealHook{inst: 3})
	raw = seal(t, raw, k.z, k.b, nil)
	if !strings.Contains(raw, "ARC-Seal: i=4;") || !strings.Contains(raw, "cv=fail") {
		t.Fatalf("%s", raw[:400])
	}
}

func TestOurSeal(t *testing.T) {
	k := testKeys(t)
	raw := seal(t, readTestdata(t, "message.eml"), k.z, k.a, nil)
	m := message(t, raw, k.z, Options{})
	if !m.OurSeal("mx.list.example", []string{"list.example"}) {
		t.Error("own seal not recognized")
	}
	if m.OurSeal("mx.other.example", []string{"list.example"}) || m.OurSeal("mx.list.example", []string{"other.example"}) {
		t.Error("someone else's seal taken as ours")
	}
}

// Hostile chains cost bounded work: 10,000 ARC fields keep at most
// 3×50 and look up no key; a chain whose every seal names another key
// stops at the lookup bound.
func TestHostileBounds(t *testing.T) {
	k := testKeys(t)
	raw := strings.Repeat("ARC-Seal: i=1; a=rsa-sha256; cv=none; d=x.example; s=y; b=AAAA\r\n", 10000) + readTestdata(t, "message.eml")
	m := message(t, raw, k.z, Options{})
	r := m.Verify(context.Background())
	if r.Result != Fail || len(m.fields) > 3*MaxInstances+20 || len(m.keys) != 0 {
		t.Fatalf("%s, %d fields kept, %d lookups", r.Result, len(m.fields), len(m.keys))
	}
	// Twelve hops, each with its own selector: at most MaxLookups keys.
	raw = readTestdata(t, "message.eml")
	for i := range 12 {
		key := k.a
		key.Selector = "s" + string(rune('a'+i))
		k.z.publish(t, key)
		raw = seal(t, raw, k.z, key, nil)
	}
	m = message(t, raw, k.z, Options{MaxLookups: 5})
	r = m.Verify(context.Background())
	if r.Result != Fail || len(m.keys) > 5 {
		t.Fatalf("%s (%s), %d lookups", r.Result, r.Reason, len(m.keys))
	}
	if r := verify(t, raw, k.z); r.Result != Fail { // default bound 10 < 12 keys
		t.Fatalf("default bound: %+v", r)
	}
	if r := message(t, raw, k.z, Options{MaxLookups: 12}).Verify(context.Background()); r.Result != Pass {
		t.Fatalf("12 keys allowed: %+v", r)
	}
}

// A list verifies the chain on the way in (arc=pass in its own A-R),
// changes the Subject, and seals on the way out with that cv: the next
// receiver sees a passing chain with oldest-pass 2. A cv=pass claim cannot
// rescue a chain whose seals broke.
func TestSealWithInboundCV(t *testing.T) {
	k := testKeys(t)
	raw := seal(t, readTestdata(t, "message.eml"), k.z, k.a, nil)
	raw = strings.Replace(raw, "Subject:  Meeting", "Subject: [list] Meeting", 1)
	out := func(raw, cv string) string {
		m := message(t, raw, k.z, Options{Seal: true})
		fs, err := m.Seal(context.Background(), k.b, "mx.fwd.example; arc=pass", cv, testNow.Unix())
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i := len(fs) - 1; i >= 0; i-- {
			b.WriteString(fs[i].Name + ": " + strings.ReplaceAll(fs[i].Value, "\n", "\r\n") + "\r\n")
		}
		return b.String() + raw
	}
	if r := verify(t, out(raw, Pass), k.z); r.Result != Pass || r.OldestPass != 2 {
		t.Fatalf("cv=pass from the way in: %+v", r)
	}
	if r := verify(t, out(raw, ""), k.z); r.Result != Fail {
		t.Fatalf("own verification after the change: %+v", r)
	}
	broken := strings.Replace(raw, "dkim=pass header.d=origin.example", "dkim=pass header.d=evil.example", 1)
	if r := verify(t, out(broken, Pass), k.z); r.Result != Fail {
		t.Fatalf("cv=pass over a broken seal: %+v", r)
	}
}
