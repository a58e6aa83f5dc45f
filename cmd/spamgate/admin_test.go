package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"spamgate/admin"
	"spamgate/admin/rulefile"
	"spamgate/config"
	"spamgate/daemon"
	"spamgate/dnsx/dnstest"
)

// TestAdminPasswd: the password read from standard input is stored as a
// bcrypt hash of cost 12, other users' lines stay, the file is 0600, and a
// name that would break the file is refused.
func TestAdminPasswd(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(file, []byte("# admins\nbob:$2a$04$abcdefghijklmnopqrstuu5Ykz0yR0gk7nS0Xa3lTz4oVQyR1gM6.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	fs, _, cost := passwdFlags(&errb)
	if err := fs.Parse(nil); err != nil || *cost != admin.BcryptCost {
		t.Fatalf("default cost %d, want %d", *cost, admin.BcryptCost)
	}
	wantCost := admin.BcryptCost
	if raceEnabled { // cost 12 takes seconds under the race detector: the file handling alone
		wantCost = bcrypt.MinCost
		if err := admin.SetPassword(file, "alice", "s3cret pass", wantCost); err != nil {
			t.Fatal(err)
		}
	} else if code := adminCmd([]string{"passwd", "alice", "-file", file}, strings.NewReader("s3cret pass\n"), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	users, err := admin.ParseUsers(file, data)
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost(users["alice"]); cost != wantCost {
		t.Errorf("cost %d, want %d", cost, wantCost)
	}
	if bcrypt.CompareHashAndPassword(users["alice"], []byte("s3cret pass")) != nil {
		t.Error("the stored hash does not match the password")
	}
	if !strings.HasPrefix(string(data), "# admins\nbob:$2a$04$") {
		t.Errorf("the other lines changed:\n%s", data)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	for _, args := range [][]string{{"passwd", "a:b", "-file", file}, {"passwd", "carol"}, {"passwd"}, {"passwd", "carol", "-file", file, "-cost", "4"}} {
		errb.Reset()
		if code := adminCmd(args, strings.NewReader("x\n"), &out, &errb); code == 0 {
			t.Errorf("%q accepted", args)
		}
	}
	if code := adminCmd([]string{"passwd", "carol", "-file", file}, strings.NewReader("\n"), &out, &errb); code == 0 {
		t.Error("an empty password accepted")
	}
}

// TestCheckConfigAdminRules: check-config reads [admin] rules_file as
// serve does; a bad rule is named with its file and line, in the words
// the API answers a POST of the same keys with.
func TestCheckConfigAdminRules(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.toml")
	if err := os.WriteFile(rules, []byte("[[rule]]\nid = \"a1\"\nrecipient = \"alice@corp.test\"\nrequire_tls = true\n\n[[rule]]\nid = \"b2\"\nrecipient = \"corp.test\"\ntls_reply = 250\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "spamgate.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[admin]\nrules_file = %q\nhistory_store = \"off\"\n", rules)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"check-config", "-config", cfg}, &out, &errb); code != 1 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	_, apiErr := rulefile.ParseKeys(map[string]any{"recipient": "corp.test", "tls_reply": 250})
	if want := rules + ":6: " + apiErr.Error() + "\n"; errb.String() != want {
		t.Errorf("check-config said %q, want %q", errb.String(), want)
	}
	if err := os.WriteFile(rules, []byte("[[rule]]\nid = \"a1\"\nrecipient = \"alice@corp.test\"\nrequire_tls = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"check-config", "-config", cfg}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "# admin rules "+rules+": 1 rules") {
		t.Errorf("output lacks the admin rules line:\n%s", out.String())
	}
}

// TestExplainSameAsConsole: POST /api/v1/explain on a running spamgate
// answers what `spamgate explain -json` prints for the same transaction
// and configuration (the same engine.Explain underneath).
func TestExplainSameAsConsole(t *testing.T) {
	z, err := dnstest.LoadZoneFile("../../testdata/dns/integration.zone", "test.")
	if err != nil {
		t.Fatal(err)
	}
	srv := dnstest.Start(t, z)
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err := os.WriteFile(users, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "spamgate.toml")
	if err := os.WriteFile(file, fmt.Appendf(nil, `
[milter]
listen = "inet:127.0.0.1:0"
authserv_id = "mx.test"
internal_networks = []
[dns]
nameservers = [%q]
[dnsbl]
threshold = 2
[[dnsbl.zone]]
name = "bl.test"
weight = 2
[[policy.rule]]
recipient = "tls.example"
require_tls = true
min_tls_version = "TLSv1.3"
[admin]
listen = "inet:127.0.0.1:0"
users_file = %q
history_store = "off"
`, srv.Addr, users), 0o600); err != nil {
		t.Fatal(err)
	}
	req := map[string]any{"client": "192.0.2.99", "helo": "helo.good.test", "tls": "TLSv1.2:256", "from": "user@good.test",
		"to": []string{"alice@tls.example", "bob@example.net"}}
	var out, errOut bytes.Buffer
	if code := run([]string{"explain", "-config", file, "-client", "192.0.2.99", "-helo", "helo.good.test", "-tls", "TLSv1.2:256",
		"-from", "user@good.test", "-to", "alice@tls.example", "-to", "bob@example.net", "-json"}, &out, &errOut); code != 0 {
		t.Fatalf("explain exit %d: %s", code, errOut.String())
	}

	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Start(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	body, _ := json.Marshal(req)
	hreq, _ := http.NewRequest("POST", "http://"+d.AdminAddr().String()+"/api/v1/explain", bytes.NewReader(body))
	hreq.Header.Set("Content-Type", "application/json")
	hreq.SetBasicAuth("alice", "pw")
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	api, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("API: %d %s", resp.StatusCode, api)
	}
	var fromCLI, fromAPI any
	if err := json.Unmarshal(out.Bytes(), &fromCLI); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(api, &fromAPI); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromCLI, fromAPI) {
		t.Errorf("explain -json and the API differ:\nCLI %s\nAPI %s", out.Bytes(), api)
	}
	if !strings.Contains(string(api), `"status": "5.7.10"`) {
		t.Errorf("the TLSv1.3 rule did not refuse alice over TLSv1.2: %s", api)
	}
}
