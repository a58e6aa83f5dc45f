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
	if !strings.Contains(out.String(), "# greylist memory store: about 92 MiB at max_entries = 1000000") {
		t.Errorf("effective configuration lacks the memory estimate of the greylist store:\n%s", out.String())
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

func TestDKIMKeygenAndDNS(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "sel.example.org.pem")
	for _, algo := range []string{"rsa", "ed25519"} {
		os.Remove(key)
		var out, errOut bytes.Buffer
		if code := run([]string{"dkim", "keygen", "-domain", "example.org", "-selector", "sel", "-algo", algo, "-out", key}, &out, &errOut); code != 0 {
			t.Fatalf("%s keygen: exit %d: %s", algo, code, errOut.String())
		}
		if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s key mode: %v %v", algo, fi.Mode(), err)
		}
		record := out.String()
		if !strings.HasPrefix(record, "sel._domainkey.example.org. IN TXT \"v=DKIM1; k="+algo) {
			t.Errorf("%s record %q", algo, record)
		}
		out.Reset()
		if code := run([]string{"dkim", "dns", "-domain", "example.org", "-selector", "sel", "-key", key}, &out, &errOut); code != 0 || out.String() != record {
			t.Errorf("%s dns: exit %d, %q, want %q", algo, code, out.String(), record)
		}
		// An existing key is never overwritten.
		if code := run([]string{"dkim", "keygen", "-domain", "example.org", "-selector", "sel", "-out", key}, &out, &errOut); code != 1 {
			t.Errorf("%s: keygen over an existing key: exit %d", algo, code)
		}
	}
}

// check-config prints the effective configuration: password files appear
// as their paths, never with what they hold.
func TestCheckConfigHidesSecrets(t *testing.T) {
	const secret = "s3cret-Pw-4711"
	dir := t.TempDir()
	pw := filepath.Join(dir, "secret")
	os.WriteFile(pw, []byte(secret+"\n"), 0o600)
	cfg := filepath.Join(dir, "spamgate.toml")
	os.WriteFile(cfg, []byte(`[greylist]
store = "redis"
[greylist.redis]
addresses = ["127.0.0.1:6379"]
password_file = "`+pw+`"
[recipients]
domains = ["example.org"]
[recipients.ldap]
url = "ldap://127.0.0.1"
base_dn = "dc=example,dc=org"
bind_dn = "cn=spamgate,dc=example,dc=org"
password_file = "`+pw+`"
`), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"check-config", "-config", cfg}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), pw) {
		t.Errorf("the password file's path is not shown:\n%s", out.String())
	}
	if strings.Contains(out.String()+errOut.String(), secret) {
		t.Errorf("check-config shows the password:\n%s", out.String())
	}
}
