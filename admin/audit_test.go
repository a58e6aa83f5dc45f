package admin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAuditRotation: the log rotates at its cap, keeps one old
// generation, and Audit reads both, newest first; a torn line is skipped.
func TestAuditRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	a := newAuditLog(path, 1000)
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for i := range 30 {
		if err := a.add(AuditEntry{Time: t0.Add(time.Duration(i) * time.Second), User: "alice", Action: "rule.add", Target: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{path, path + ".1"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 1000 {
			t.Errorf("%s is %d bytes, cap 1000", p, fi.Size())
		}
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-12-07T10:`) // a crash mid-write
	f.Close()
	got, err := a.read(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 10 || len(got) >= 30 || got[0].Target != "29" {
		t.Fatalf("read %d entries, first %+v; want the newest first, fewer than written (rotated)", len(got), got[0])
	}
	for i := 1; i < len(got); i++ {
		if !got[i].Time.Before(got[i-1].Time) {
			t.Fatalf("not newest first at %d: %v after %v", i, got[i].Time, got[i-1].Time)
		}
	}
	if few, _ := a.read(context.Background(), 3); len(few) != 3 {
		t.Errorf("limit 3: %d entries", len(few))
	}
}

// TestAPISince: the API's since= is the web UI's parser, "" the whole
// history, and a bad value a ValidationError (400) naming the parameter.
func TestAPISince(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	if got, err := ParseSince("", now); err != nil || !got.IsZero() {
		t.Errorf(`ParseSince("") = %v, %v`, got, err)
	}
	if got, err := ParseSince("24h", now); err != nil || !got.Equal(now.Add(-24*time.Hour)) {
		t.Errorf(`ParseSince("24h") = %v, %v`, got, err)
	}
	var ve *ValidationError
	if _, err := ParseSince("yesterday", now); !errors.As(err, &ve) || !strings.HasPrefix(ve.Msg, "since: ") {
		t.Errorf(`ParseSince("yesterday"): %v`, err)
	}
}
