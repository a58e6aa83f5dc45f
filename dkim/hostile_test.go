package dkim

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Hostile input (docs/HOSTILE.md): 100 DKIM-Signature fields, bogus and
// valid mixed. Only the first max signatures in header order are verified
// (and looked up); Skipped counts the rest for the log.
func TestHostileHundredSignatures(t *testing.T) {
	z := zone{}
	k := genKey(t, "ed25519", "example.org", "sel", z)
	fields, body := postfixFields(t, plainMessage)
	valid := sign(t, []Key{k}, fields, body)[0]
	var lookups atomic.Int64
	lookup := func(ctx context.Context, name string) ([]string, error) {
		lookups.Add(1)
		return z.lookup(ctx, name)
	}
	var msg []field
	for i := range 100 {
		switch {
		case i == 1 || i == 60:
			msg = append(msg, valid)
		case i%3 == 0:
			msg = append(msg, field{"DKIM-Signature", fmt.Sprintf(" v=1; a=rsa-sha256; d=nokey%d.example; s=s; h=from; bh=AAAA; b=AAAA", i)})
		case i%3 == 1:
			msg = append(msg, field{"DKIM-Signature", fmt.Sprintf(" garbage %d ;;; === \x00\r\n", i)})
		default:
			msg = append(msg, field{"DKIM-Signature", strings.Replace(valid.value, "b=", "b=AAAA", 1)})
		}
	}
	msg = append(msg, fields...)
	for _, maxSigs := range []int{0, 50} {
		lookups.Store(0)
		start := time.Now()
		v := NewVerifier(context.Background(), lookup, maxSigs)
		feed(t, v, msg, body, 1000)
		got := v.Close()
		want := maxSigs
		if want == 0 {
			want = DefaultMaxSignatures
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("max %d: took %v", maxSigs, took)
		}
		if len(got) != want || v.Skipped() != 100-want {
			t.Fatalf("max %d: %d results, %d skipped", maxSigs, len(got), v.Skipped())
		}
		if n := lookups.Load(); n > int64(want) {
			t.Errorf("max %d: %d key lookups", maxSigs, n)
		}
		pass := 0
		for _, r := range got {
			if r.Result == Pass {
				pass++
			}
		}
		if wantPass := map[int]int{0: 1, 50: 1}[maxSigs]; pass != wantPass {
			t.Errorf("max %d: %d pass, want %d: %s", maxSigs, pass, wantPass, results(got))
		}
	}
}

// A key record published as several TXT records is a permerror (RFC 6376
// 3.6.2.2 leaves it open; go-msgauth refuses); one record of many strings
// arrives joined from dnsx and verifies (daemon's TestHostileManyTXTStrings).
func TestHostileKeyRecords(t *testing.T) {
	z := zone{}
	k := genKey(t, "ed25519", "example.org", "sel", z)
	rec := z["sel._domainkey.example.org"].(string)
	fields, body := postfixFields(t, plainMessage)
	signed := sign(t, []Key{k}, fields, body)
	z["sel._domainkey.example.org"] = []string{rec, rec}
	if got := verify(t, z, signed, body, 1000); len(got) != 1 || got[0].Result != PermError {
		t.Errorf("two key records: %s", results(got))
	}
	var many []string
	for i := range 300 {
		many = append(many, fmt.Sprintf("junk %d", i))
	}
	z["sel._domainkey.example.org"] = append(many, rec)
	if got := verify(t, z, signed, body, 1000); len(got) != 1 || got[0].Result != PermError {
		t.Errorf("301 key records: %s", results(got))
	}
}
