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
