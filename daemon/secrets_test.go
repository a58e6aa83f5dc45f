package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"spamgate/internal/miltertest"
	"spamgate/internal/redistest"
	"spamgate/internal/slapdtest"
)

// Passwords (password_file of LDAP and Redis) never appear in the log, not
// even when they are wrong and every lookup fails with an error.
func TestSecretsNeverLogged(t *testing.T) {
	const secret = "s3cret-Pw-4711"
	dir := t.TempDir()
	pw := filepath.Join(dir, "secret")
	if err := os.WriteFile(pw, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	slapd := slapdtest.Start(t, slapdtest.TwoMailboxes)
	rs := redistest.Start(t, "--requirepass", "another-one") // AUTH fails
	greylist := greylistTable("always", "redis", rs.Addr(), "") + fmt.Sprintf("password_file = %q\n", pw)
	extra := fmt.Sprintf(`
[recipients]
domains = ["example.test"]
on_ldap_error = "tempfail"
[recipients.ldap]
url = %q
bind_dn = %q
password_file = %q
base_dn = %q
timeout = "1s"
`, slapd.URL(), slapd.BindDN(), pw, slapd.BaseDN())
	r := startRigWith(t, greylist, extra)
	res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test",
		Rcpts: []string{"alice@example.test", "carol@example.net"}})
	if got := res.Refused("alice@example.test"); got != rcptReplyTempFail {
		t.Errorf("LDAP with a wrong password: %q, want %q", got, rcptReplyTempFail)
	}
	logs := r.logs.String()
	if res.Refused("carol@example.net") != "" {
		t.Errorf("greylist store down: %q, want accepted (on_store_error = accept)", res.Refused("carol@example.net"))
	}
	if !strings.Contains(logs, "Invalid Credentials") || !strings.Contains(logs, "WRONGPASS") {
		t.Errorf("the failures were not logged:\n%s", logs)
	}
	if strings.Contains(logs, secret) {
		t.Errorf("the log shows the password:\n%s", logs)
	}
}
