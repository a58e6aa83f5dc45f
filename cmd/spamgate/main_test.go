package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The shipped example must be valid and must say what the defaults are.
func TestCheckConfigExample(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"check-config", "-config", "../../etc/spamgate.toml"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "listen = 'inet:127.0.0.1:8891'") {
		t.Errorf("effective configuration lacks the listen address:\n%s", out.String())
	}
}

func TestCheckConfigNamesLine(t *testing.T) {
	f := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(f, []byte("[dnsbl]\n\ntreshold = 2\n"), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"check-config", "-config", f}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if want := f + ":3: dnsbl.treshold: unknown key"; !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr %q lacks %q", errOut.String(), want)
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"frobnicate"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "usage") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestCheckConfigPolicyWarningsAndTableErrors(t *testing.T) {
	dir := t.TempDir()
	table := filepath.Join(dir, "customers")
	os.WriteFile(table, []byte("example.org  require_tls=yes\n"), 0o600)
	cfg := filepath.Join(dir, "spamgate.toml")
	os.WriteFile(cfg, []byte("[policy]\ntables = [\""+table+"\"]\n\n[[policy.rule]]\nrecipient = \"example.org\"\ngreylist = \"never\"\n"), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"check-config", "-config", cfg}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "warning: "+table+":1:") {
		t.Errorf("no warning about the shadowed table rule:\n%s", errOut.String())
	}

	os.WriteFile(table, []byte("# panel output\nexample.org  require_tls=perhaps\n"), 0o600)
	errOut.Reset()
	if code := run([]string{"check-config", "-config", cfg}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d for a broken table", code)
	}
	if !strings.Contains(errOut.String(), table+":2") {
		t.Errorf("error does not name the table line:\n%s", errOut.String())
	}
}
