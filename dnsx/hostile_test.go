package dnsx_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"spamgate/dnsx"
)

// Hostile input (docs/HOSTILE.md): TXT answers with hundreds of strings or
// records come over TCP after the truncated UDP answer; each record's
// strings are joined; an answer too big for DNS at all is a temporary
// error, never a hang.
func TestHostileManyTXT(t *testing.T) {
	piece := strings.Repeat("x", 199)
	var text strings.Builder
	text.WriteString("$ORIGIN big.test.\n")
	// One record of 300 strings, 60,000 bytes joined.
	text.WriteString("strings 300 IN TXT")
	for range 300 {
		text.WriteString(` "` + piece + ` "`)
	}
	text.WriteString("\n")
	// 300 records.
	for i := range 300 {
		fmt.Fprintf(&text, "records 300 IN TXT \"record %d\"\n", i)
	}
	// Control bytes and NUL inside a string come back as raw bytes.
	text.WriteString(`raw 300 IN TXT "a\013\010b\000c" "\"q\""` + "\n")
	// Over 64 KiB: no DNS message can carry it.
	text.WriteString("huge 300 IN TXT")
	for range 400 {
		text.WriteString(` "` + piece + `"`)
	}
	text.WriteString("\n")
	srv, _ := start(t, text.String())
	r := newResolver(t, dnsx.Config{}, srv.Addr)
	ctx := ctxTimeout(t, 10*time.Second)

	got, err := r.LookupTXT(ctx, "strings.big.test")
	if err != nil || len(got) != 1 || len(got[0]) != 300*200 || !strings.HasPrefix(got[0], piece+" "+piece) {
		t.Errorf("300 strings: %d records, err %v", len(got), err)
	}
	got, err = r.LookupTXT(ctx, "records.big.test")
	if err != nil || len(got) != 300 {
		t.Errorf("300 records: %d records, err %v", len(got), err)
	}
	got, err = r.LookupTXT(ctx, "raw.big.test")
	if err != nil || len(got) != 1 || got[0] != "a\r\nb\x00c\"q\"" {
		t.Errorf("raw bytes: %q, %v", got, err)
	}
	start := time.Now()
	hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err = r.LookupTXT(hctx, "huge.big.test")
	if err == nil || !dnsx.IsTemporary(err) {
		t.Errorf("over 64 KiB: %d records, err %v; want a temporary error", len(got), err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("over 64 KiB: took %v", took)
	}
}
