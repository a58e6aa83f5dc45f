package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"spamgate/metrics"
)

// logBuffer collects JSON log lines from the server goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// find returns the first logged record whose msg is msg, or nil.
func (b *logBuffer) find(msg string) map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, line := range strings.Split(b.buf.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			return rec
		}
	}
	return nil
}

func TestServe(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "inet:127.0.0.1:0"} {
		t.Run(addr, func(t *testing.T) { testServe(t, addr) })
	}
}

func testServe(t *testing.T, addr string) {
	var logs logBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := metrics.New().Serve(ctx, addr, nil, log); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	rec := logs.find("metrics listening")
	if rec == nil {
		t.Fatal("no 'metrics listening' log line")
	}
	bound := rec["addr"].(string)
	if code, body := get(t, "http://"+bound+"/metrics"); code != 200 || !strings.Contains(body, "spamgate_sessions_total") {
		t.Errorf("/metrics on %s: %d", bound, code)
	}
	cancel()
	waitClosed(t, bound)
	waitLogged(t, &logs, "metrics server stopped")
}

// waitClosed waits until nothing accepts connections on addr any more.
func waitClosed(t *testing.T, addr string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
	}
	t.Errorf("%s still accepts connections after the context ended", addr)
}

func waitLogged(t *testing.T, logs *logBuffer, msg string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if logs.find(msg) != nil {
			return
		}
	}
	t.Errorf("no %q log line", msg)
}

func TestServeErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, addr := range []string{busy.Addr().String(), "unix:/run/spamgate/metrics.sock", "localhost", "inet:", "127.0.0.1:"} {
		err := metrics.New().Serve(ctx, addr, nil, nil)
		if err == nil {
			t.Errorf("Serve(%q) = nil, want an error", addr)
		} else if !strings.Contains(err.Error(), "metrics") {
			t.Errorf("Serve(%q) = %v, want the error to say what failed", addr, err)
		}
	}
}
