package dkim

import (
	"context"
	"runtime"
	"testing"
)

// bigBody streams size bytes of CRLF text in 64 KB chunks, the largest the
// milter protocol sends, reusing one buffer as the milter does.
func bigBody(size int, each func([]byte) error) error {
	const chunk = 64 * 1024
	line := []byte("0123456789 the quick brown fox jumps over the lazy dog  \t 0123456789\r\n")
	buf := make([]byte, chunk)
	for sent := 0; sent < size; sent += chunk {
		for i := range buf {
			buf[i] = line[(sent+i)%len(line)]
		}
		if err := each(buf); err != nil {
			return err
		}
	}
	return nil
}

// TestLargeBodyMemory streams a 50 MB body through the signer and then the
// verifier and checks the heap never grows by more than a few MiB.
func TestLargeBodyMemory(t *testing.T) {
	size := 50 << 20
	if raceEnabled || testing.Short() {
		size = 8 << 20 // the race detector makes hashing ~10× slower
	}
	z := zone{}
	k := genKey(t, "ed25519", "example.org", "big", z)
	fields, _ := postfixFields(t, plainMessage)

	runtime.GC()
	base, peak := heapNow(), uint64(0)
	sample := func(n *int) {
		if *n++; *n%64 == 0 { // every 4 MB: ReadMemStats stops the world
			peak = max(peak, heapNow())
		}
	}

	s, err := NewSigner([]Key{k})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, s, fields, nil, 0)
	n := 0
	if err := bigBody(size, func(b []byte) error { sample(&n); return s.Body(b) }); err != nil {
		t.Fatal(err)
	}
	vals, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}

	v := NewVerifier(context.Background(), z.lookup, 0)
	feed(t, v, append([]field{{"DKIM-Signature", vals[0]}}, fields...), nil, 0)
	if err := bigBody(size, func(b []byte) error { sample(&n); return v.Body(b) }); err != nil {
		t.Fatal(err)
	}
	peak = max(peak, heapNow())
	if got := v.Close(); len(got) != 1 || got[0].Result != Pass {
		t.Fatalf("%d MB body: %+v", size>>20, got)
	}
	grow := int64(peak) - int64(base)
	t.Logf("%d MB body: heap %d KiB before, peak %d KiB (+%d KiB)", size>>20, base>>10, peak>>10, grow>>10)
	if grow > 8<<20 {
		t.Fatalf("heap grew by %d MiB streaming a %d MB body", grow>>20, size>>20)
	}
}

func heapNow() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
