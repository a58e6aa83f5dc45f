package dkim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

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
// canonicalization as given). The signature at validSig is made over
// body's reference canonical form, which go-msgauth signs without the cost
// the filter exists to avoid (and which must verify against body); the
// others over another body, so they fail on the body hash after reading
// the whole body, which is what an attacker's bogus signatures cost.
func hostileMessage(t testing.TB, z zone, body []byte, canons []string) []field {
	t.Helper()
	k := genKey(t, "ed25519", "example.org", "hostile", z)
	var fields []field
	for i, c := range canons {
		signed := []byte("bogus\r\n")
		switch {
		case i == validSig && c == "relaxed":
			signed = refRelaxed(body)
		case i == validSig:
			signed = refSimple(body)
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
	return append(b[:len(b):len(b)], '\r', '\n') // never into body's array
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
	if bytes.Count(body, []byte("\n")) == bytes.Count(body, []byte("\r\n")) {
		return body // no bare LF (the long test bodies): skip the slow loop
	}
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
		n = 3
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

// TestBlankBodyVerifies: bodies of empty lines, white-space lines and
// random mixtures, fed in Postfix's 65,535-byte chunks, verify with five
// signatures (simple, relaxed, or both): the one made over the body passes
// and the others fail on the body hash.
func TestBlankBodyVerifies(t *testing.T) {
	r := rand.New(rand.NewPCG(6376, 12))
	bodies := map[string][]byte{
		"crlf":   repeatBody("\r\n", 200<<10),
		"wsp":    repeatBody(" \r\n", 200<<10),
		"runs":   repeatBody(strings.Repeat("\r\n", 40000)+"text\r\n", 200<<10),
		"random": randomBody(r, 200<<10),
	}
	canons := map[string][]string{"mixed": mixedCanons, "relaxed": relaxedCanons, "simple": simpleCanons}
	for bname, body := range bodies {
		for cname, cs := range canons {
			t.Run(bname+"/"+cname, func(t *testing.T) {
				z := zone{}
				got := verify(t, z, hostileMessage(t, z, body, cs), body, postfixChunk)
				for i, res := range got {
					if want := map[bool]string{true: Pass, false: Fail}[i == validSig]; res.Result != want {
						t.Errorf("signature %d (c=relaxed/%s): %s, want %s", i, cs[i], results(got[i:i+1]), want)
					}
				}
			})
		}
	}
}

// TestBlankBodyLinear is issue 12's measure: five signatures (simple and
// relaxed, one valid), a body of empty lines or of " \r\n" lines fed in
// 65,535-byte chunks. Going from 1 MB to 8 MB must cost about 8 times the
// work (the quadratic canonicalization cost 64 times: 321 s for 10 MB),
// and the heap must not grow with the body.
func TestBlankBodyLinear(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		canons     []string
		want       string // result of the valid signature at 8 MB
	}{
		{"crlf/mixed", "\r\n", mixedCanons, Pass},
		// Simple keeps white-space lines, so relaxed canonicalizers hold
		// them; past 1 MiB the message is not verified.
		{"wsp/mixed", " \r\n", mixedCanons, Policy},
		{"wsp/relaxed", " \r\n", relaxedCanons, Pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			small := measureBlankBody(t, tc.line, tc.canons, 1<<20, "", false)
			big := measureBlankBody(t, tc.line, tc.canons, 8<<20, tc.want, true)
			allocRatio := float64(big.alloc) / float64(small.alloc)
			cpuRatio := float64(big.cpu) / float64(small.cpu)
			t.Logf("1 MB: CPU %v, %d KiB allocated; 8 MB: CPU %v, %d KiB allocated, live heap +%d KiB; ratios: CPU %.1f, bytes %.1f",
				small.cpu, small.alloc>>10, big.cpu, big.alloc>>10, big.heap>>10, cpuRatio, allocRatio)
			// One run under the race detector, whose own costs vary: more slack.
			limit := map[bool]float64{false: 12, true: 16}[raceEnabled]
			if allocRatio > limit || cpuRatio > limit {
				t.Errorf("8 MB vs 1 MB: %.1f times the bytes allocated, %.1f times the CPU time; linear is 8, quadratic 64", allocRatio, cpuRatio)
			}
			if big.heap > 4<<20 {
				t.Errorf("live heap grew by %d KiB during the 8 MB body", big.heap>>10)
			}
		})
	}
}

type blankCost struct {
	cpu         time.Duration // process CPU time, least of the runs
	alloc, heap int64         // bytes allocated (least of the runs); live heap growth
}

// measureBlankBody verifies a body of line repeated to size bytes, three
// times for CPU time and bytes allocated (once under the race detector,
// which makes go-msgauth's canonicalizers ten times slower), and, if heap
// is set, once more collecting garbage every MB to see the live heap; want,
// if set, is the valid signature's result. CPU time, not wall time: other
// tests and processes share the machine. The body is fed from one
// repeated chunk, so that it is not itself live during the run.
func measureBlankBody(t *testing.T, line string, canons []string, size int, want string, heap bool) blankCost {
	z := zone{}
	fields := hostileMessage(t, z, repeatBody(line, size), canons)
	pattern := repeatBody(line, postfixChunk+2*len(line))
	run := func(sample func()) []Result {
		v := NewVerifier(context.Background(), z.lookup, 0)
		for _, f := range fields {
			v.Header(f.name, f.value)
		}
		v.EndHeaders()
		total := size / len(line) * len(line) // as repeatBody makes it
		for sent, i := 0, 0; sent < total; i++ {
			n := min(postfixChunk, total-sent)
			if err := v.Body(pattern[sent%len(line):][:n]); err != nil {
				t.Fatal(err)
			}
			sent += n
			if i%16 == 15 {
				sample()
			}
		}
		return v.Close()
	}
	cost := blankCost{cpu: time.Hour, alloc: 1 << 62}
	var m runtime.MemStats
	runs := 3
	if raceEnabled {
		runs = 1
	}
	for range runs {
		runtime.GC()
		runtime.ReadMemStats(&m)
		total, cpu := m.TotalAlloc, cpuTime(t)
		got := run(func() {})
		cost.cpu = min(cost.cpu, cpuTime(t)-cpu)
		runtime.ReadMemStats(&m)
		cost.alloc = min(cost.alloc, int64(m.TotalAlloc-total))
		if want != "" && got[validSig].Result != want {
			t.Fatalf("%d MB: %s, want %s for signature %d", size>>20, results(got), want, validSig)
		}
	}
	if !heap {
		return cost
	}
	runtime.GC()
	base := heapNow()
	run(func() {
		runtime.GC()
		cost.heap = max(cost.heap, int64(heapNow())-int64(base))
	})
	return cost
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestRefusedReleasesGoroutines: go-msgauth's parallel verification does
// not close its per-signature pipes when its reader fails, so a stream
// ended with an error (a refused body, Abort, the deadline) left one
// goroutine per signature, and what its canonicalizer held, behind for
// good. The Verifier ends the stream with EOF instead.
func TestRefusedReleasesGoroutines(t *testing.T) {
	z := zone{}
	body := repeatBody(" \r\n", 2<<20) // over the limit with mixed signatures
	fields := hostileMessage(t, z, body, mixedCanons)
	before := runtime.NumGoroutine()
	for _, end := range []string{"refused", "abort", "cancel"} {
		ctx, cancel := context.WithCancel(context.Background())
		v := NewVerifier(ctx, z.lookup, 0)
		switch end {
		case "refused":
			feed(t, v, fields, body, postfixChunk)
			if got := v.Close(); got[validSig].Result != Policy {
				t.Errorf("refused: %s", results(got))
			}
		case "abort":
			feed(t, v, fields, body[:3*postfixChunk], postfixChunk)
			v.Abort()
		case "cancel":
			feed(t, v, fields, body[:3*postfixChunk], postfixChunk)
			cancel()
			if got := v.Close(); got[validSig].Result != TempError {
				t.Errorf("cancelled: %s", results(got))
			}
		}
		cancel()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines left behind:\n%s", n-before, buf[:runtime.Stack(buf, true)])
	}
}

// TestSignerBlankBody: the signer goes through the same filter (relaxed
// only, no limit: our own users' mail). A body of white-space lines, text,
// then empty lines, fed in 65,535-byte chunks, gets a signature go-msgauth
// verifies on the whole message read at once.
func TestSignerBlankBody(t *testing.T) {
	z := zone{}
	k := genKey(t, "ed25519", "example.org", "out", z)
	body := append(repeatBody(" \r\n", 1<<20), "end\r\n"...)
	body = append(body, repeatBody("\r\n", 1<<20)...)
	fields := []field{{"From", " a@example.org"}, {"Subject", " blank"}}
	s, err := NewSigner([]Key{k})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, s, fields, body, postfixChunk)
	vals, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	msg := "DKIM-Signature:" + strings.ReplaceAll(vals[0], "\n", "\r\n") + "\r\nFrom: a@example.org\r\nSubject: blank\r\n\r\n" + string(body)
	verifs, err := msgdkim.VerifyWithOptions(strings.NewReader(msg), &msgdkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return z.lookup(context.Background(), name) },
	})
	if err != nil || len(verifs) != 1 || verifs[0].Err != nil {
		t.Fatalf("go-msgauth: %v %+v", err, verifs)
	}
}
