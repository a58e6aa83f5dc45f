package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"spamgate/internal/slapdtest"
)

func TestRecipientsCheck(t *testing.T) {
	s := slapdtest.Start(t, slapdtest.TwoMailboxes)
	dir := t.TempDir()
	table := filepath.Join(dir, "recipients")
	pw := filepath.Join(dir, "ldap.secret")
	cfg := filepath.Join(dir, "spamgate.toml")
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(table, "# mailboxes outside LDAP\n\npostmaster@example.test\n@lists.example.test\n")
	write(pw, s.Password()+"\n")
	write(cfg, fmt.Sprintf(`[recipients]
domains = ["example.test", "lists.example.test"]
table = %q

[recipients.ldap]
url = %q
bind_dn = %q
password_file = %q
base_dn = %q
timeout = "1s"
`, table, s.URL(), s.BindDN(), pw, s.BaseDN()))

	check := func(t *testing.T, addrs ...string) (int, string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(append([]string{"recipients", "check", "-config", cfg}, addrs...), &out, &errOut)
		return code, out.String(), errOut.String()
	}

	t.Run("up", func(t *testing.T) {
		code, out, errOut := check(t, "postmaster@example.test", "anything@lists.example.test", "alice@example.test",
			"<Bob+tag@Example.TEST>", "nobody@example.test", "*)(mail=*@example.test", "alice@example.net")
		if code != 0 {
			t.Errorf("exit %d; stderr: %s", code, errOut)
		}
		want := strings.Join([]string{
			"postmaster@example.test: known (table " + table + ":3)",
			"anything@lists.example.test: known (table " + table + ":4)",
			"alice@example.test: known (ldap uid=alice,dc=example,dc=test)",
			"<Bob+tag@Example.TEST>: known (ldap uid=bob,dc=example,dc=test)",
			"nobody@example.test: unknown",
			"*)(mail=*@example.test: unknown",
			"alice@example.net: not-ours",
		}, "\n") + "\n"
		if out != want {
			t.Errorf("output:\n%s\nwant:\n%s", out, want)
		}
	})

	s.Kill()
	t.Run("ldap down", func(t *testing.T) {
		code, out, _ := check(t, "postmaster@example.test", "alice@example.test")
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		if !strings.Contains(out, "postmaster@example.test: known (table "+table+":3)\n") ||
			!strings.Contains(out, "alice@example.test: lookup failed (the milter answers 451 4.3.0") {
			t.Errorf("output:\n%s", out)
		}
	})
}

func TestRecipientsCheckUsage(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "spamgate.toml")
	if err := os.WriteFile(cfg, []byte("[dnsbl]\nthreshold = 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"recipients"}, 2, "usage"},
		{[]string{"recipients", "check", "-config", cfg}, 2, "give at least one address"},
		{[]string{"recipients", "check", "-config", cfg, "a@example.test"}, 1, "recipients are not validated"},
	} {
		var out, errOut bytes.Buffer
		if code := run(c.args, &out, &errOut); code != c.code || !strings.Contains(errOut.String(), c.err) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", c.args, code, errOut.String(), c.code, c.err)
		}
	}
}
