package recipients

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testLog writes the validator's log into the test's output.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tableFile(t testing.TB, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "recipients")
	writeFile(t, path, text)
	return path
}

// check runs Check and fails the test on an error.
func check(t testing.TB, v *Validator, addr string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := v.Check(ctx, addr)
	if err != nil {
		t.Fatalf("Check(%q): %v", addr, err)
	}
	return r
}

func wantStatus(t testing.TB, v *Validator, addr string, want Status) Result {
	t.Helper()
	r := check(t, v, addr)
	if r.Status != want {
		t.Fatalf("Check(%q) = %+v, want %v", addr, r, want)
	}
	return r
}
