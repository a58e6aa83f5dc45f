package daemon

import (
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"spamgate/internal/miltertest"
)

// lines generates a body of n bytes of CRLF text without holding it.
type lines struct{ left int }

func (l *lines) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, io.EOF
	}
	const line = "0123456789 the quick brown fox jumps over the lazy dog 0123456789\r\n"
	n := 0
	for n+len(line) <= len(p) && l.left >= len(line) {
		n += copy(p[n:], line)
		l.left -= len(line)
	}
	if n == 0 {
		n = copy(p, strings.Repeat("x", min(len(p), l.left)))
		l.left -= n
	}
	return n, nil
}

// A 50 MB message through the milter, with a DKIM signature to verify,
// must not raise the heap by anything like its size: the body is streamed.
func TestLargeMessageMemory(t *testing.T) {
	r := startRig(t, "")
	const size = 50 << 20
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"a@example.net"},
		Headers: [][2]string{
			{"DKIM-Signature", " v=1; a=rsa-sha256; c=relaxed/relaxed; d=good.test; s=none; h=from; bh=AAAA; b=AAAA"},
			{"From", " <user@good.test>"}},
		BodyReader: &lines{left: size}})
	close(stop)
	<-sampled
	if ar := res.Header("Authentication-Results"); len(ar) != 1 || !strings.Contains(ar[0], "dkim=") {
		t.Fatalf("Authentication-Results %q", ar)
	}
	grew := int64(peak.Load()) - int64(base)
	t.Logf("50 MB message: peak heap in use %d MiB above the start (client and server in this process)", grew>>20)
	if grew > 24<<20 {
		t.Errorf("heap grew by %d MiB for a 50 MB message", grew>>20)
	}
}
