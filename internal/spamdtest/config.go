package spamdtest

import (
	"os"
	"path/filepath"
	"testing"
)

// configDir makes the site config directory: Debian's .pre files, which
// load the plugins, and a local.cf of our own instead of the machine's.
//
// It is not t.TempDir: spamd drops root for nobody before it reads its
// config, and nobody cannot enter the 0700 directories t.TempDir makes.
func configDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "spamdtest-")
	if err != nil {
		t.Fatalf("spamd config dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("spamd config dir: %v", err)
	}
	site := filepath.Join(dir, "site")
	if err := os.Mkdir(site, 0o755); err != nil {
		t.Fatalf("spamd config dir: %v", err)
	}
	copyPre(t, site)
	if err := os.WriteFile(filepath.Join(site, "local.cf"), []byte(localCF), 0o644); err != nil {
		t.Fatalf("spamd config: %v", err)
	}
	return dir
}

// copyPre copies /etc/spamassassin/*.pre into dir.
func copyPre(t testing.TB, dir string) {
	t.Helper()
	pres, _ := filepath.Glob(filepath.Join(preDir, "*.pre"))
	if len(pres) == 0 {
		t.Fatalf("no %s/*.pre (plugin loading for spamd); %s", preDir, installHint)
	}
	for _, p := range pres {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("spamd config: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644); err != nil {
			t.Fatalf("spamd config: %v", err)
		}
	}
}
