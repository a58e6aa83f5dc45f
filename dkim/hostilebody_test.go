package dkim

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"strings"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// postfixChunk is the size of the body chunks Postfix sends a milter:
// 65,535 bytes, an odd size, so a body of CRLFs is cut between "\r" and
// "\n" every other chunk.
const postfixChunk = 65535

// Signature sets of issue 12, body canonicalization of each of five
// signatures; valid is the index of the one signed over the real body.
var (
	mixedCanons   = []string{"simple", "relaxed", "simple", "relaxed", "simple"}
	relaxedCanons = []string{"relaxed", "relaxed", "relaxed", "relaxed", "relaxed"}
	simpleCanons  = []string{"simple", "simple", "simple", "simple", "simple"}
)

const validSig = 1

// repeatBody returns line repeated up to size bytes.
func repeatBody(line string, size int) []byte {
	return bytes.Repeat([]byte(line), size/len(line))
}

// hostileMessage returns the header fields of a message with one
// DKIM-Signature per entry of canons (header canonicalization relaxed, body
// canonicalization as given). The signature at validSig is made over body;
// the others over another body, so they fail on the body hash after
// reading the whole body, which is what an attacker's bogus signatures cost.
func hostileMessage(t testing.TB, z zone, body []byte, canons []string) []field {
	t.Helper()
	k := genKey(t, "ed25519", "example.org", "hostile", z)
	var fields []field
	for i, c := range canons {
		signed := []byte("bogus\r\n")
		if i == validSig {
			signed = body
		}
		raw := "From: a@example.org\r\nSubject: blank\r\n\r\n" + string(signed)
		var out strings.Builder
		err := msgdkim.Sign(&out, strings.NewReader(raw), &msgdkim.SignOptions{
			Domain: k.Domain, Selector: k.Selector, Signer: k.Signer,
			HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
			BodyCanonicalization:   msgdkim.Canonicalization(c),
			HeaderKeys:             []string{"From", "Subject"},
		})
		if err != nil {
			t.Fatal(err)
		}
		sig, _, _ := strings.Cut(out.String(), "\r\nFrom: a@example.org")
		fields = append(fields, field{"DKIM-Signature", insertValue(sig + "\r\n")})
	}
	return append(fields, field{"From", " a@example.org"}, field{"Subject", " blank"})
}

// refSimple and refRelaxed canonicalize a whole body at once, as
// go-msgauth's canonicalizers do (RFC 6376 3.4.3 and 3.4.4, after turning
// a bare LF into CRLF; go-msgauth's relaxed treats a bare CR as a line
// break).
func refSimple(body []byte) []byte {
	b := fixLF(body)
	for bytes.HasSuffix(b, []byte("\r\n")) {
		b = b[:len(b)-2]
	}
	return append(b, '\r', '\n')
}

func refRelaxed(body []byte) []byte {
	var out, breaks []byte
	wsp := false
	for _, c := range fixLF(body) {
		switch c {
		case ' ', '\t':
			wsp = true
		case '\r', '\n':
			wsp = false
			breaks = append(breaks, c)
		default:
			out = append(out, breaks...)
			breaks = breaks[:0]
			if wsp {
				out = append(out, ' ')
				wsp = false
			}
			out = append(out, c)
		}
	}
	if len(out) > 0 {
		out = append(out, '\r', '\n')
	}
	return out
}

func fixLF(body []byte) []byte {
	out := make([]byte, 0, len(body))
	for i, c := range body {
		if c == '\n' && (i == 0 || body[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// throughFilter feeds body to a blankFilter in chunks of the sizes given
// (cycled) and returns what it wrote.
func throughFilter(t testing.TB, body []byte, mode bodyMode, sizes []int) []byte {
	t.Helper()
	var out []byte
	f := newBlankFilter(mode, 0, func(b []byte) error { out = append(out, b...); return nil })
	for i := 0; len(body) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(body))
		if ok, err := f.feed(body[:n]); !ok || err != nil {
			t.Fatalf("feed: %v %v", ok, err)
		}
		body = body[n:]
	}
	if ok, err := f.close(); !ok || err != nil {
		t.Fatalf("close: %v %v", ok, err)
	}
	return out
}

// checkCanonical fails if what the filter wrote canonicalizes differently
// from body, for each canonicalization mode must keep.
func checkCanonical(t testing.TB, body []byte, mode bodyMode, sizes []int) {
	t.Helper()
	out := throughFilter(t, body, mode, sizes)
	for _, c := range []struct {
		m   bodyMode
		ref func([]byte) []byte
	}{{bodySimple, refSimple}, {bodyRelaxed, refRelaxed}} {
		if mode&c.m == 0 {
			continue
		}
		if want, got := sha256.Sum256(c.ref(body)), sha256.Sum256(c.ref(out)); want != got {
			t.Fatalf("mode %d, chunks %v: body %q\ncanonicalizes to %q\nthrough the filter %q",
				mode, sizes[:min(len(sizes), 8)], clipBytes(body), clipBytes(c.ref(body)), clipBytes(c.ref(out)))
		}
	}
}

func clipBytes(b []byte) []byte { return b[:min(len(b), 200)] }

var allModes = []bodyMode{bodySimple, bodyRelaxed, bodySimple | bodyRelaxed}

// randomBody strings together pieces that stress the filter: empty lines,
// white space lines, bare CR and LF, and a little content.
func randomBody(r *rand.Rand, size int) []byte {
	pieces := []string{"\r\n", "\r\n", "\r\n\r\n\r\n", "\n", "\r", " ", "\t", " \r\n", "\t \r\n", "x", "text \r\n", "\r\r\n"}
	var b []byte
	for len(b) < size {
		p := pieces[r.IntN(len(pieces))]
		if r.IntN(64) == 0 { // a long run now and then, across chunk boundaries
			p = strings.Repeat(p, r.IntN(40000))
		}
		b = append(b, p...)
	}
	return b
}

// TestBlankFilterDifferential: for random bodies split at random chunk
// boundaries, Postfix's 65,535 among them, the filter's output has the
// same canonical form (hence body hash) as the whole body.
func TestBlankFilterDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 4))
	n := 25
	if raceEnabled || testing.Short() {
		n = 6
	}
	for range n {
		body := randomBody(r, r.IntN(200<<10))
		random := make([]int, 16)
		for i := range random {
			random[i] = 1 + r.IntN(70000)
		}
		for _, sizes := range [][]int{{postfixChunk}, {65536}, random, {1 + r.IntN(7)}} {
			for _, mode := range allModes {
				checkCanonical(t, body, mode, sizes)
			}
		}
	}
}

// FuzzBlankFilter is the differential test on fuzzed bodies and chunk
// sizes (each byte of cuts is one chunk size, cycled; none: 65,535).
func FuzzBlankFilter(f *testing.F) {
	f.Add([]byte("a\r\n\r\n \r\n\t\r\n\r"), []byte{3, 1})
	f.Add([]byte("\r\n\r\n\r\n"), []byte{})
	f.Add([]byte(" \r\n \r\nx\r\r\n\n\n\r"), []byte{0, 2, 5})
	f.Add([]byte("x\r \r\n  y\r\n\r\n"), []byte{1})
	f.Fuzz(func(t *testing.T, body, cuts []byte) {
		sizes := []int{postfixChunk}
		if len(cuts) > 0 {
			sizes = sizes[:0]
			for _, c := range cuts {
				sizes = append(sizes, int(c)+1)
			}
		}
		for _, mode := range allModes {
			checkCanonical(t, body, mode, sizes)
		}
	})
}

// TestReferenceCanonicalization pins the reference to RFC 6376 3.4.5's
// example body; FuzzBodyChunks and TestBlankBodyVerifies check the filter
// against go-msgauth itself.
func TestReferenceCanonicalization(t *testing.T) {
	body := []byte(" C \r\nD \t E\r\n\r\n\r\n")
	if got := string(refSimple(body)); got != " C \r\nD \t E\r\n" {
		t.Errorf("simple: %q", got)
	}
	if got := string(refRelaxed(body)); got != " C\r\nD E\r\n" {
		t.Errorf("relaxed: %q", got)
	}
}
