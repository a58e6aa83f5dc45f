package dkim

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

func TestTrailingCRLFs(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{{"", 0}, {"a", 0}, {"\r\n", 2}, {"a\r\n\r\n", 4}, {"\n\r\n", 2}, {"\r\n\r", 0}, {"a\r\r\n", 2}}
	for _, tt := range tests {
		if got := trailingCRLFs([]byte(tt.in)); got != tt.want {
			t.Errorf("trailingCRLFs(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestBlankRuns: a long trailing run of empty lines costs no memory and
// still passes; a mid-body run past maxBlankRun is refused as policy; a
// shorter one is replayed faithfully.
func TestBlankRuns(t *testing.T) {
	z := zone{}
	k := genKey(t, "ed25519", "example.org", "sel", z)
	fields, body := postfixFields(t, plainMessage)
	blank := bytes.Repeat([]byte("\r\n"), 32*1024)

	trailing := 50 << 20
	if raceEnabled || testing.Short() {
		trailing = 8 << 20
	}
	signed := sign(t, []Key{k}, fields, body)
	v := NewVerifier(context.Background(), z.lookup, 0)
	feed(t, v, signed, body, 65536)
	runtime.GC()
	base := heapNow()
	for sent := 0; sent < trailing; sent += len(blank) {
		if err := v.Body(blank); err != nil {
			t.Fatal(err)
		}
	}
	grow := int64(heapNow()) - int64(base)
	if got := v.Close(); got[0].Result != Pass || grow > 4<<20 {
		t.Fatalf("%d MB of trailing empty lines: %+v, heap +%d KiB", trailing>>20, got, grow>>10)
	}

	for _, tt := range []struct {
		run  int
		want string
	}{{512 << 10, Pass}, {2 << 20, Policy}} {
		body := append(bytes.Repeat([]byte("\r\n"), tt.run/2), "the end\r\n"...)
		signed := sign(t, []Key{k}, fields, body)
		if got := verify(t, z, signed, body, 65536); got[0].Result != tt.want {
			t.Errorf("%d KiB mid-body run: %+v, want %s", tt.run>>10, got, tt.want)
		}
	}
}

// FuzzBodyChunks: any body signed by go-msgauth in one piece, simple or
// relaxed, verifies when streamed in chunks of any size; this guards the
// hold-back of trailing empty lines.
func FuzzBodyChunks(f *testing.F) {
	z := zone{}
	k := genKey(f, "ed25519", "example.org", "sel", z)
	f.Add([]byte("a\r\n\r\n"), 1, false)
	f.Add([]byte("x\r\r\n \r\n\r\n\n\r"), 2, true)
	f.Add([]byte("\r\n\r\n"), 3, true)
	f.Add([]byte(""), 1, false)
	f.Fuzz(func(t *testing.T, body []byte, size int, relaxed bool) {
		if size < 1 || size > 1<<16 {
			return
		}
		can := msgdkim.CanonicalizationSimple
		if relaxed {
			can = msgdkim.CanonicalizationRelaxed
		}
		var out strings.Builder
		raw := "From: a@example.org\r\nSubject: x\r\n\r\n" + string(body)
		err := msgdkim.Sign(&out, strings.NewReader(raw), &msgdkim.SignOptions{
			Domain: k.Domain, Selector: k.Selector, Signer: k.Signer,
			HeaderCanonicalization: can, BodyCanonicalization: can, HeaderKeys: []string{"From"},
		})
		if err != nil {
			t.Skip(err)
		}
		sig, _, _ := strings.Cut(out.String(), "\r\nFrom: a@example.org")
		fields := []field{{"DKIM-Signature", insertValue(sig + "\r\n")}, {"From", " a@example.org"}, {"Subject", " x"}}
		if got := verify(t, z, fields, body, size); len(got) != 1 || got[0].Result != Pass {
			t.Fatalf("body %q in %d-byte chunks (%s): %+v", body, size, can, got)
		}
	})
}
