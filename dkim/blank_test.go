package dkim

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// TestBlankFilterWithholds: what the filter writes for each chunking, and
// what it keeps back as a count. A run that reaches the end of a chunk is
// withheld, whatever byte the chunk ends on; one that ends inside a chunk
// goes as it is.
func TestBlankFilterWithholds(t *testing.T) {
	tests := []struct {
		name   string
		mode   bodyMode
		chunks []string
		want   string // written, "|" between writes
		held   int    // empty lines withheld at the end
	}{
		{"only empty lines", bodySimple | bodyRelaxed, []string{"\r\n\r", "\n\r\n\r", "\n"}, "", 4},
		{"run inside a chunk", bodySimple, []string{"a\r\n\r\n\r\nb\r\n"}, "a\r\n\r\n\r\nb\r\n", 0},
		{"run across chunks", bodySimple, []string{"a\r\n\r", "\n\r\nb"}, "a\r\n|\r|\n\r\nb", 0},
		{"bare LF lines", bodySimple, []string{"a\n\n", "\nb"}, "a\n|\r\n|\nb", 0},
		{"bare CR is content", bodySimple, []string{"a\r\n\r", "x"}, "a\r\n|\r|x", 0},
		{"white space is content for simple", bodySimple | bodyRelaxed, []string{"a\r\n", " \r\n", " \r\n"}, "a\r\n| \r\n| \r\n", 0},
		{"white space lines are empty for relaxed", bodyRelaxed, []string{"a\r\n", " \r\n\t", " \r\n"}, "a\r\n", 2},
		{"white space before content", bodyRelaxed, []string{"a\r\n \r\n ", "\tb"}, "a\r\n|\r\n| |\tb", 0},
		{"chunk ends on a line end", bodySimple, []string{"a\r\n", "b\r\n"}, "a\r\n|b\r\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			f := newBlankFilter(tt.mode, 0, func(b []byte) error { got = append(got, string(b)); return nil })
			for _, c := range tt.chunks {
				if ok, err := f.feed([]byte(c)); !ok || err != nil {
					t.Fatalf("feed(%q): %v %v", c, ok, err)
				}
			}
			if w := strings.Join(got, "|"); w != tt.want || f.held != tt.held {
				t.Errorf("wrote %q, held %d; want %q, %d", w, f.held, tt.want, tt.held)
			}
		})
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
