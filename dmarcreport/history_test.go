package dmarcreport

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var day0 = time.Date(2026, 6, 1, 23, 59, 0, 0, time.UTC)

func eval(t time.Time, ip, from string) Evaluation {
	return Evaluation{
		Time: t, SourceIP: netip.MustParseAddr(ip), HeaderFrom: from,
		EnvelopeFrom: from, PolicyDomain: from,
		Policy:      PolicyPublished{P: "reject", ADKIM: "r", ASPF: "r"},
		Disposition: "none", DKIMAligned: true,
		DKIM: []AuthResult{{Domain: from, Selector: "s1", Result: "pass"}},
		SPF:  []AuthResult{{Domain: from, Scope: "mfrom", Result: "pass"}},
		RUA:  []string{"mailto:dmarc@" + from},
	}
}

func TestHistoryConcurrentRoundTrip(t *testing.T) {
	dir := t.TempDir()
	h, err := OpenHistory(dir)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := eval(day0.Add(-time.Duration(i)*time.Second), fmt.Sprintf("192.0.2.%d", w+1), "example.com")
				if err := h.Append(e); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	got, warn, err := Read(dir, day0.Add(-time.Hour), day0.Add(time.Hour))
	if err != nil || len(warn) != 0 {
		t.Fatalf("Read: %v %v", err, warn)
	}
	if len(got) != workers*each {
		t.Fatalf("read %d evaluations, want %d", len(got), workers*each)
	}
	want := eval(day0, "192.0.2.1", "example.com")
	for _, e := range got {
		if e.HeaderFrom != want.HeaderFrom || e.Policy != want.Policy || len(e.DKIM) != 1 || e.DKIM[0] != want.DKIM[0] || e.RUA[0] != want.RUA[0] || !e.DKIMAligned {
			t.Fatalf("round trip changed the evaluation: %+v", e)
		}
	}
	if err := h.Append(want); err == nil {
		t.Error("Append after Close succeeded")
	}
}

func TestHistoryDayRollover(t *testing.T) {
	dir := t.TempDir()
	h, err := OpenHistory(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range []time.Time{day0, day0.Add(2 * time.Minute), day0.Add(24 * time.Hour)} {
		if err := h.Append(eval(ts, "192.0.2.1", "example.com")); err != nil {
			t.Fatal(err)
		}
	}
	h.Close()
	for _, name := range []string{"dmarc-2026-06-01.jsonl", "dmarc-2026-06-02.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("day file: %v", err)
		}
	}
	tests := []struct {
		name         string
		since, until time.Time
		want         int
	}{
		{"all", day0.Add(-time.Hour), day0.Add(48 * time.Hour), 3},
		{"first day only", day0.Add(-time.Hour), day0.Add(time.Minute), 1},
		{"across midnight", day0, day0.Add(time.Hour), 2},
		{"last", day0.Add(24 * time.Hour), day0.Add(25 * time.Hour), 1},
		{"none", day0.Add(-48 * time.Hour), day0.Add(-24 * time.Hour), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := Read(dir, tt.since, tt.until)
			if err != nil || len(got) != tt.want {
				t.Fatalf("Read = %d, %v; want %d", len(got), err, tt.want)
			}
		})
	}
}

func TestReadSkipsMalformed(t *testing.T) {
	dir := t.TempDir()
	h, _ := OpenHistory(dir)
	h.Append(eval(day0, "192.0.2.1", "example.com"))
	h.Close()
	name := filepath.Join(dir, "dmarc-2026-06-01.jsonl")
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A crash mid-write, then lines that decode but are unusable.
	f.WriteString(`{"time":"2026-06-01T23:59:00Z","source_ip":"192.0.2.9","hea` + "\n")
	f.WriteString(`{"time":"2026-06-01T23:59:00Z","header_from":"x.example"}` + "\n\n")
	f.WriteString(`not json` + "\n")
	f.Close()
	h, _ = OpenHistory(dir)
	h.Append(eval(day0.Add(time.Second), "192.0.2.2", "example.com"))
	h.Close()

	got, warn, err := Read(dir, day0.Add(-time.Hour), day0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Errorf("got %d evaluations, want 2", len(got))
	}
	want := []string{name + ":2:", name + ":3:", name + ":5:"}
	if len(warn) != len(want) {
		t.Fatalf("warnings %q, want %d", warn, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(warn[i], w) {
			t.Errorf("warning %q, want prefix %q", warn[i], w)
		}
	}
}

func FuzzReadLines(f *testing.F) {
	var good bytes.Buffer
	h := eval(day0, "2001:db8::1", "example.com")
	b, _ := jsonLine(h)
	good.Write(b)
	f.Add(good.Bytes())
	f.Add([]byte(`{"time":"2026-06-01T00:00:00Z","source_ip":"::ffff:1.2.3.4","header_from":"a"}`))
	f.Add([]byte("{\n}\n\x00\n" + `{"source_ip":"1.2.3.4"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		evals, warn, err := readLines(bytes.NewReader(data), "fuzz", time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatalf("readLines on a memory reader failed: %v", err)
		}
		lines := 0
		for _, l := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				lines++
			}
		}
		if len(evals)+len(warn) > lines {
			t.Fatalf("%d evaluations + %d warnings from %d lines", len(evals), len(warn), lines)
		}
		for _, e := range evals {
			if !e.SourceIP.IsValid() || e.HeaderFrom == "" || e.Time.IsZero() {
				t.Fatalf("accepted an unusable evaluation %+v", e)
			}
			// Whatever is accepted must aggregate into a report without panicking.
			e.PolicyDomain, e.RUA = "example.com", []string{"mailto:a@example.com"}
			Aggregate([]Evaluation{e}, Reporter{Domain: "mx.example"}, e.Time, e.Time.Add(time.Second))
		}
	})
}
