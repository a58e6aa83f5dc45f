package dkim

import (
	"context"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"
	"time"
)

// cachedProbe is a CacheProbe whose cache holds everything (or nothing).
func cachedProbe(hit bool) CacheProbe {
	return func(ctx context.Context) (context.Context, func() bool) {
		return ctx, func() bool { return !hit }
	}
}

// verifyWith verifies as verify does, inline up to maxBody bytes when
// maxBody > 0.
func verifyWith(t testing.TB, ctx context.Context, z zone, fields []field, body []byte, size, maxBody int, probe CacheProbe) []Result {
	t.Helper()
	v := NewVerifier(ctx, z.lookup, 0)
	if maxBody > 0 {
		v.VerifyInline(maxBody, probe)
	}
	feed(t, v, fields, body, size)
	return v.Close()
}

// TestInlineMatchesStreaming: the same messages give the same results
// verified inline (held, at Close), streamed, and held until the body
// outgrows the bound and then streamed; for bodies that pass, fail, and
// that the blank-run filter refuses.
func TestInlineMatchesStreaming(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 6376))
	z := zone{}
	k := genKey(t, "rsa", "example.org", "sel", z)
	fields, body := postfixFields(t, plainMessage)
	signed := sign(t, []Key{k, k}, fields, body)
	tampered := append([]byte("x"), body...)
	type message struct {
		fields []field
		body   []byte
	}
	msgs := map[string]message{"signed": {signed, body}, "tampered": {signed, tampered}}
	for name, b := range map[string][]byte{
		"blank":  repeatBody("\r\n", 300<<10),
		"random": randomBody(r, 100<<10),
		"small":  randomBody(r, 3<<10),
	} {
		msgs["hostile-"+name] = message{hostileMessage(t, z, b, mixedCanons), b}
	}
	for name, m := range msgs {
		for _, size := range []int{7, 4096, 65535} {
			want := verifyWith(t, context.Background(), z, m.fields, m.body, size, 0, nil)
			for _, maxBody := range []int{64 << 10, 1 << 10, 1} {
				got := verifyWith(t, context.Background(), z, m.fields, m.body, size, maxBody, cachedProbe(true))
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s, chunks of %d, inline up to %d: %v\nstreamed: %v", name, size, maxBody, results(got), results(want))
				}
			}
		}
	}
}

// TestInlineNoGoroutine: a small message whose key is cached is verified
// without a goroutine; with the key not cached, or a body over the bound,
// the verification streams (a goroutine while the body arrives).
func TestInlineNoGoroutine(t *testing.T) {
	z := zone{}
	k := genKey(t, "ed25519", "example.org", "sel", z)
	fields, body := postfixFields(t, plainMessage)
	signed := sign(t, []Key{k}, fields, body)
	for _, tc := range []struct {
		name      string
		maxBody   int
		hit       bool
		goroutine bool
	}{
		{"cached", 64 << 10, true, false},
		{"not cached", 64 << 10, false, true},
		{"over the bound", len(body) / 2, true, true},
		{"inline off", 0, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			v := NewVerifier(context.Background(), z.lookup, 0)
			if tc.maxBody > 0 {
				v.VerifyInline(tc.maxBody, cachedProbe(tc.hit))
			}
			feed(t, v, signed, body, len(body))
			if started := runtime.NumGoroutine() > before; started != tc.goroutine {
				t.Errorf("a goroutine running before Close: %v, want %v", started, tc.goroutine)
			}
			if got := v.Close(); len(got) != 1 || got[0].Result != Pass {
				t.Errorf("%v", results(got))
			}
		})
	}
}

// TestInlineCancelled: a message held inline whose context ended before
// Close is not verified (temperror, Unverified): it vouches for nothing.
func TestInlineCancelled(t *testing.T) {
	z := zone{}
	k := genKey(t, "ed25519", "example.org", "sel", z)
	fields, body := postfixFields(t, plainMessage)
	signed := sign(t, []Key{k}, fields, body)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	v := NewVerifier(ctx, z.lookup, 0)
	v.VerifyInline(64<<10, cachedProbe(true))
	feed(t, v, signed, body, len(body))
	<-ctx.Done()
	got := v.Close()
	if len(got) != 1 || got[0].Result != TempError || !got[0].Unverified {
		t.Fatalf("%+v", got)
	}
}

// TestInlineLimits: the body limit applies as when streaming.
func TestInlineLimits(t *testing.T) {
	z := zone{}
	k := genKey(t, "ed25519", "example.org", "sel", z)
	fields, body := postfixFields(t, plainMessage)
	signed := sign(t, []Key{k}, fields, body)
	v := NewVerifier(context.Background(), z.lookup, 0)
	v.Limit(0, int64(len(body)-1))
	v.VerifyInline(64<<10, cachedProbe(true))
	feed(t, v, signed, body, 10)
	got := v.Close()
	if len(got) != 1 || got[0].Result != Policy || !got[0].OverLimit {
		t.Fatalf("%+v", got)
	}
}

// TestInlineRefusedWhileHeld: a run of empty lines over the filter's bound
// in a body still held inline (a bound above it) is refused as when
// streamed: the same Policy results.
func TestInlineRefusedWhileHeld(t *testing.T) {
	z := zone{}
	body := append(repeatBody("\r\n", maxBlankRun+(64<<10)), "text\r\n"...)
	fields := hostileMessage(t, z, body, mixedCanons)
	want := verifyWith(t, context.Background(), z, fields, body, 65535, 0, nil)
	got := verifyWith(t, context.Background(), z, fields, body, 65535, 4<<20, cachedProbe(true))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("inline: %v\nstreamed: %v", results(got), results(want))
	}
	if len(got) == 0 || got[0].Result != Policy {
		t.Errorf("want Policy for a refused blank run: %v", results(got))
	}
}
