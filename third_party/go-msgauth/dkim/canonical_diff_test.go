package dkim

import (
	"bytes"
	"io"
	"regexp"
	"testing"
)

// The patched canonicalizers and removeSignature must give exactly what
// upstream's gave (canonical_ref_test.go), whatever the bytes and however
// they are cut into writes.

var diffSeeds = []string{
	"canonical line\r\nanother one\r\n\r\n", " leading space\r\n", "trailing space \r\nx\r\n", "two  spaces\r\n",
	"tab\there\r\n", "cr\rinside\r\n", "lf only\nline\r\n", "a\r\n \r\nb\r\n",
	"", "\r\n", "\n", "\r", "a", " ", "\t",
	"Hey\r\n \t you!\r\n", "Hey \t \r\nyou!", "Hey\r\n\r\nHow r u?\r\n\r\n\r\n",
	"What about\nLF endings?\n", "\r\n\r\r\n", "lone\rCR\r", "a\r\r\nb\r", "x \r \n y\t\t\r\n\r\n",
	"trailing\r\n\r\n\r", "\r\r\r\n\n\n", " \t \r\n", "mid  \t  spaces\tand\ttabs  \r\n",
}

func canonicalize(wc io.WriteCloser, out *bytes.Buffer, data []byte, cuts []byte) []byte {
	for len(data) > 0 {
		n := len(data)
		if len(cuts) > 0 {
			if c := int(cuts[0])%17 + 1; c < n {
				n = c
			}
			cuts = cuts[1:]
		}
		wc.Write(data[:n])
		data = data[n:]
	}
	wc.Close()
	return out.Bytes()
}

func FuzzBodyCanonicalizers(f *testing.F) {
	for _, s := range diffSeeds {
		f.Add([]byte(s), []byte{0, 1, 2, 3})
		f.Add([]byte(s), []byte(nil))
	}
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		var got, want bytes.Buffer
		g := canonicalize(&simpleBodyCanonicalizer{w: &got}, &got, data, cuts)
		w := canonicalize(&refSimpleBodyCanonicalizer{w: &want}, &want, data, cuts)
		if !bytes.Equal(g, w) {
			t.Errorf("simple body of %q (cuts %v):\n got %q\nwant %q", data, cuts, g, w)
		}
		got.Reset()
		want.Reset()
		g = canonicalize(&relaxedBodyCanonicalizer{w: &got}, &got, data, cuts)
		w = canonicalize(&refRelaxedBodyCanonicalizer{w: &want}, &want, data, cuts)
		if !bytes.Equal(g, w) {
			t.Errorf("relaxed body of %q (cuts %v):\n got %q\nwant %q", data, cuts, g, w)
		}
	})
}

func FuzzRelaxedHeader(f *testing.F) {
	for _, s := range []string{
		"SubjeCT: Your Name\r\n", "Subject \t:\t Ki \tmi \t \r\n No \t\r\n Na Wa\r\n",
		"no colon\r\n", ":", " : ", "K: \r\n", "X:a\r\n\tb", "Ünï: cödé  \xff\xfe  x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := new(relaxedCanonicalizer).CanonicalizeHeader(s), refRelaxedCanonicalizeHeader(s); got != want {
			t.Errorf("relaxed header %q:\n got %q\nwant %q", s, got, want)
		}
	})
}

var refSigRegex = regexp.MustCompile(`(b\s*=)[^;]+`)

func FuzzRemoveSignature(f *testing.F) {
	for _, s := range []string{
		"v=1; a=rsa-sha256; bh=abc; b=def", "b=;", "b=", "b =x; bh=y; b\r\n =z", "ab=cd; b\f=e;",
		"b=x;b=y", "bbb=1", "b\t=\t;", " b= \r\n x", "d=b; b=QUJD\r\n REVG;t=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := removeSignature(s), refSigRegex.ReplaceAllString(s, "$1"); got != want {
			t.Errorf("removeSignature(%q):\n got %q\nwant %q", s, got, want)
		}
	})
}

// benchBodies are 6 KB of text lines already in relaxed form (most mail)
// and of lines with tabs and runs of spaces.
var benchBodies = map[string][]byte{
	"plain": bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog; a line of ordinary text.\r\n"), 90),
	"wsp":   bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog;  a line\tof text.  \r\n"), 90),
}

func BenchmarkRelaxedBody(b *testing.B) {
	for name, body := range benchBodies {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				c := new(relaxedCanonicalizer).CanonicalizeBody(io.Discard)
				c.Write(body)
				c.Close()
			}
		})
	}
}

func BenchmarkSimpleBody(b *testing.B) {
	for name, body := range benchBodies {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				c := new(simpleCanonicalizer).CanonicalizeBody(io.Discard)
				c.Write(body)
				c.Close()
			}
		})
	}
}

func BenchmarkRefSimpleBody(b *testing.B) {
	for name, body := range benchBodies {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				c := &refSimpleBodyCanonicalizer{w: io.Discard}
				c.Write(body)
				c.Close()
			}
		})
	}
}

func BenchmarkRefRelaxedBody(b *testing.B) {
	for name, body := range benchBodies {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				c := &refRelaxedBodyCanonicalizer{w: io.Discard}
				c.Write(body)
				c.Close()
			}
		})
	}
}

// TestLongHeldRuns covers the runs of line ends longer than maxHeld, which
// are written on their own: fuzzed inputs are too short to reach them.
func TestLongHeldRuns(t *testing.T) {
	long := func(s string, n int) string { return string(bytes.Repeat([]byte(s), n)) }
	for _, body := range []string{
		"a" + long("\r\n", 5000) + "b\r\n",
		"a" + long("\n", 9000) + "b" + long(" \r\n", 3000) + "c",
		long("\r\n", 3000) + "\r" + long("\r\n", 3000),
		"x" + long("\r\n", 4000) + "\r",
		"y" + long(" \t\r\n", 5000) + "z" + long("\r\n", 2049),
		long("x\n", 5000) + long("x\r", 5000) + long("x\r\n", 100),
	} {
		for _, cut := range []int{1, 7, 4096, 65535} {
			cuts := bytes.Repeat([]byte{byte(cut % 17)}, len(body))
			if cut >= 4096 {
				cuts = nil
			}
			var got, want bytes.Buffer
			g := canonicalize(&simpleBodyCanonicalizer{w: &got}, &got, []byte(body), cuts)
			w := canonicalize(&refSimpleBodyCanonicalizer{w: &want}, &want, []byte(body), cuts)
			if !bytes.Equal(g, w) {
				t.Errorf("simple body (%d bytes, cut %d): got %d bytes, want %d", len(body), cut, len(g), len(w))
			}
			got.Reset()
			want.Reset()
			g = canonicalize(&relaxedBodyCanonicalizer{w: &got}, &got, []byte(body), cuts)
			w = canonicalize(&refRelaxedBodyCanonicalizer{w: &want}, &want, []byte(body), cuts)
			if !bytes.Equal(g, w) {
				t.Errorf("relaxed body (%d bytes, cut %d): got %d bytes, want %d", len(body), cut, len(g), len(w))
			}
		}
	}
}
