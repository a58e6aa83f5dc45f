package dkimkeys

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"spamgate/dkim"
)

type keyFile struct {
	selector, algo string
	age            time.Duration
	marker         string // "", retiredSuffix or pendingSuffix
}

func TestChoose(t *testing.T) {
	tests := []struct {
		name  string
		files []keyFile
		want  []string // signing selectors, sorted
	}{
		{"one rsa", []keyFile{{"s1", "rsa", time.Hour, ""}}, []string{"s1"}},
		{"dual signing", []keyFile{{"r", "rsa", time.Hour, ""}, {"e", "ed25519", time.Hour, ""}}, []string{"e", "r"}},
		{"newest per algorithm", []keyFile{{"old", "rsa", 48 * time.Hour, ""}, {"new", "rsa", time.Hour, ""}, {"e", "ed25519", 72 * time.Hour, ""}}, []string{"e", "new"}},
		{"retired newest is skipped", []keyFile{{"old", "rsa", 48 * time.Hour, ""}, {"new", "rsa", time.Hour, retiredSuffix}}, []string{"old"}},
		{"pending does not sign", []keyFile{{"old", "rsa", 48 * time.Hour, ""}, {"next", "rsa", time.Hour, pendingSuffix}}, []string{"old"}},
		{"same mtime: greater selector", []keyFile{{"a2026", "rsa", time.Hour, ""}, {"b2026", "rsa", time.Hour, ""}}, []string{"b2026"}},
		{"all retired: unsigned", []keyFile{{"x", "rsa", time.Hour, retiredSuffix}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, f := range tc.files {
				writeKey(t, dir, "example.org", f.selector, f.algo, i, f.age)
				if f.marker != "" {
					mark(t, dir, "example.org", f.selector, f.marker)
				}
			}
			tb, err := Open(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := selectors(tb, "Example.ORG.")
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("signing selectors %v, want %v (entries %+v)", got, tc.want, tb.Entries())
			}
		})
	}
}

// A key file that cannot be used stops the start, with the file's name.
func TestOpenRefusesBrokenFiles(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"group readable", func(t *testing.T, dir string) {
			writeKey(t, dir, "a.test", "s1", "ed25519", 0, 0)
			os.Chmod(filepath.Join(dir, "a.test", "s1.pem"), 0o640)
		}, "a.test/s1.pem is accessible by group or others"},
		{"not PEM", func(t *testing.T, dir string) {
			os.MkdirAll(filepath.Join(dir, "a.test"), 0o700)
			os.WriteFile(filepath.Join(dir, "a.test", "bad.pem"), []byte("hello"), 0o600)
		}, "a.test/bad.pem"},
		{"too big", func(t *testing.T, dir string) {
			os.MkdirAll(filepath.Join(dir, "a.test"), 0o700)
			os.WriteFile(filepath.Join(dir, "a.test", "core.pem"), make([]byte, 1<<20), 0o600)
		}, "a.test/core.pem is over 65536 bytes"},
		{"bad selector", func(t *testing.T, dir string) {
			writeKey(t, dir, "a.test", "-x", "ed25519", 0, 0)
		}, `"-x" is not a valid selector`},
		{"bad domain", func(t *testing.T, dir string) {
			writeKey(t, dir, "nodot", "s", "ed25519", 0, 0)
		}, `"nodot" is not a domain name`},
		{"same domain twice", func(t *testing.T, dir string) {
			writeKey(t, dir, "a.test", "s", "ed25519", 0, 0)
			writeKey(t, dir, "A.test", "s", "ed25519", 0, 0)
		}, "are the same domain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeKey(t, dir, "good.test", "s", "ed25519", 1, 0)
			tc.setup(t, dir)
			_, err := Open(dir, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("the error shows key material: %v", err)
			}
		})
	}
}

// A reload with a broken file keeps that domain's keys and applies the
// other changes; unchanged files are not parsed again.
func TestReloadKeepsBrokenDomain(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "a.test", "s1", "rsa", 0, time.Hour)
	writeKey(t, dir, "b.test", "s1", "rsa", 2, time.Hour) // *rsa.PrivateKey: comparable
	tb, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := tb.Keys("b.test")[0].Signer
	// A half-written key for a.test, a new domain c.test.
	if err := os.WriteFile(filepath.Join(dir, "a.test", "s2.pem"), []byte("-----BEGIN PRIVATE KEY-----\nMIIE"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeKey(t, dir, "c.test", "s1", "ed25519", 1, 0)
	err = tb.Reload()
	if err == nil || !strings.Contains(err.Error(), filepath.Join("a.test", "s2.pem")) {
		t.Fatalf("Reload: %v, want an error naming a.test/s2.pem", err)
	}
	if got := selectors(tb, "a.test"); !slices.Equal(got, []string{"s1"}) {
		t.Errorf("a.test signs with %v after a broken reload, want [s1]", got)
	}
	if got := selectors(tb, "c.test"); !slices.Equal(got, []string{"s1"}) {
		t.Errorf("c.test signs with %v, want the new domain's [s1]", got)
	}
	if tb.Keys("b.test")[0].Signer != before {
		t.Error("an unchanged key file was parsed again")
	}
	if s := tb.Stats(); s.Broken != 1 || s.ReloadErrors != 1 || s.Domains != 3 {
		t.Errorf("stats %+v, want 1 broken file, 1 reload error, 3 domains", s)
	}
	// Fixed: the reload takes it.
	os.Remove(filepath.Join(dir, "a.test", "s2.pem"))
	writeKey(t, dir, "a.test", "s2", "rsa", 1, 0)
	if err := tb.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := selectors(tb, "a.test"); !slices.Equal(got, []string{"s2"}) {
		t.Errorf("a.test signs with %v, want the newer [s2]", got)
	}
}

// Choosing and using a message's keys reads memory only: the directory is
// gone, and signing still works; a reload of the vanished directory keeps
// the table.
func TestSigningTouchesNoFiles(t *testing.T) {
	dir := t.TempDir()
	for i := range 50 {
		writeKey(t, dir, "d"+string(rune('a'+i%26))+strings.Repeat("x", i/26)+".test", "s", "ed25519", i, 0)
	}
	tb, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	keys := tb.Keys("da.test")
	if len(keys) != 1 {
		t.Fatalf("keys %v", keys)
	}
	sg, err := dkim.NewSigner(keys)
	if err != nil {
		t.Fatal(err)
	}
	sg.Header("From", " a@da.test")
	sg.EndHeaders()
	if err := sg.Body([]byte("hello\r\n")); err != nil {
		t.Fatal(err)
	}
	sigs, err := sg.Close()
	if err != nil || len(sigs) != 1 || !strings.Contains(sigs[0], "d=da.test") {
		t.Fatalf("signatures %q, %v", sigs, err)
	}
	if err := tb.Reload(); err == nil {
		t.Error("reload of a missing directory succeeded")
	}
	if tb.Stats().Domains != 50 {
		t.Errorf("the table lost domains: %+v", tb.Stats())
	}
}

// An emptied directory (an unmounted volume) keeps the table in force.
func TestReloadEmptyKeepsTable(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "a.test", "s", "ed25519", 0, 0)
	tb, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(dir, "a.test"))
	if err := tb.Reload(); err == nil || !strings.Contains(err.Error(), "no domain found") {
		t.Fatalf("Reload: %v", err)
	}
	if tb.Keys("a.test") == nil {
		t.Error("a.test lost its key")
	}
}

// The watch takes a new domain and a retirement without SIGHUP.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "a.test", "old", "ed25519", 0, time.Hour)
	tb, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go tb.Watch(ctx, 10*time.Millisecond)
	writeKey(t, dir, "b.test", "s", "ed25519", 1, 0)
	writeKey(t, dir, "a.test", "new", "ed25519", 2, 0)
	entries := func() any { return tb.Entries() }
	waitFor(t, func() bool { return tb.Keys("b.test") != nil && slices.Equal(selectors(tb, "a.test"), []string{"new"}) }, entries)
	mark(t, dir, "a.test", "new", retiredSuffix)
	waitFor(t, func() bool { return slices.Equal(selectors(tb, "a.test"), []string{"old"}) }, entries)
	// Rewritten in place (no rename: the directory does not change): the
	// deep poll, every deepEvery-th, sees it.
	pub := writeKey(t, dir, "b.test", "s", "ed25519", 3, 0)
	waitFor(t, func() bool { return tb.Keys("b.test")[0].Signer.Public().(ed25519.PublicKey).Equal(pub) }, entries)
}

func waitFor(t *testing.T, cond func() bool, msg func() any) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s", msg())
		}
	}
}

func TestWritePending(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "a.test", "old", "rsa", 0, time.Hour)
	pemKey, _ := pool.get(t, "rsa", 1)
	path, err := WritePending(dir, "A.test", "new", pemKey)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, "a.test", "new.pem") {
		t.Errorf("path %s", path)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v", fi, err)
	}
	if _, err := WritePending(dir, "a.test", "new", pemKey); err == nil {
		t.Error("an existing key was overwritten")
	}
	tb, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := selectors(tb, "a.test"); !slices.Equal(got, []string{"old"}) {
		t.Errorf("signing with %v: a pending key must not sign", got)
	}
	des, _ := os.ReadDir(filepath.Join(dir, "a.test"))
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") {
			t.Errorf("temporary file %s left behind", de.Name())
		}
	}
}

// An Entry printed or logged never shows its private key.
func TestEntryHidesKey(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "a.test", "s", "ed25519", 0, 0)
	tb, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := tb.Entries()[0]
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "entry", e, "entries", tb.Entries())
	for _, out := range []string{fmt.Sprintf("%v %+v %s", e, e, e), fmt.Sprint(tb.Entries()), logged.String()} {
		if regexp.MustCompile(`\d+ \d+ \d+ \d+`).MatchString(out) { // bytes as fmt prints them
			t.Errorf("printed entry looks like it carries key bytes: %s", out)
		}
		if !strings.Contains(out, "a.test/s (ed25519, active, ") {
			t.Errorf("printed entry %q does not name the key", out)
		}
	}
}
