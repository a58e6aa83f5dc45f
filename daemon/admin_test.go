package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"spamgate/admin"
	"spamgate/config"
	"spamgate/history"
	"spamgate/internal/miltertest"
	"spamgate/internal/redistest"
	"spamgate/internal/testcert"
)

// The admin console's JSON API against the real daemon: authentication,
// the rate limit, a rule added through the API refusing a cleartext
// transaction through the real milter at the next RCPT, its removal, the
// audit, and the rules file across a restart.

const (
	adminUser = "alice"
	adminPass = "correct horse battery staple"
)

// adminConfig is the [admin] table of the rigs; the users file's hash has
// bcrypt's lowest cost, so that the wrong-password tests stay fast.
const adminConfig = `
[admin]
listen = "inet:127.0.0.1:0"
users_file = %q
rules_file = %q
history_store = "off"
login_max_failures = 3
login_window = "1h"

[[policy.rule]]
recipient = "bob@corp.test"
greylist = "never"
`

// adminRig is a daemon with the console on, and its files.
type adminRig struct {
	*rig
	dir, users, rules string
}

func startAdminRig(t *testing.T, extra string) *adminRig {
	t.Helper()
	return startAdminRigTweak(t, extra, nil)
}

// startAdminRigTweak is startAdminRig with a change to the loaded
// configuration (rigOptions.tweak).
func startAdminRigTweak(t *testing.T, extra string, tweak func(*config.Config)) *adminRig {
	t.Helper()
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	hash, err := bcrypt.GenerateFromPassword([]byte(adminPass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(users, []byte(adminUser+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "rules.toml")
	r := startRigOpts(t, rigOptions{extra: fmt.Sprintf(adminConfig, users, rules) + extra, tweak: tweak})
	if r.d.AdminAddr() == nil {
		t.Fatal("the admin console did not start")
	}
	return &adminRig{rig: r, dir: dir, users: users, rules: rules}
}

// apiClient calls the API from a given loopback source address, so that
// tests of the per-client login limit do not share a client.
type apiClient struct {
	base       string
	user, pass string
	http       *http.Client
}

func newAPIClient(addr net.Addr, from string, user, pass string) *apiClient {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	return &apiClient{base: "http://" + addr.String(), user: user, pass: pass,
		http: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}}
}

// call sends a request (body: JSON, or nil) and returns the status, the
// header and the body.
func (c *apiClient) call(t *testing.T, method, path string, body any) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, data
}

// must calls and checks the status, decoding the answer into out.
func (c *apiClient) must(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	code, _, data := c.call(t, method, path, body)
	if code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, code, data, want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
}

// apiEndpoints is every endpoint of the API.
var apiEndpoints = []struct{ method, path string }{
	{"GET", "/api/v1/rules"},
	{"POST", "/api/v1/rules"},
	{"PUT", "/api/v1/rules/abc"},
	{"DELETE", "/api/v1/rules/abc"},
	{"GET", "/api/v1/lookup?recipient=alice@corp.test"},
	{"POST", "/api/v1/explain"},
	{"GET", "/api/v1/decisions"},
	{"GET", "/api/v1/rollout?recipient=corp.test"},
	{"GET", "/api/v1/dashboard"},
	{"GET", "/api/v1/greylist?client=192.0.2.1&sender=a@b.test&recipient=c@d.test"},
	{"POST", "/api/v1/greylist/release"},
	{"GET", "/api/v1/greylist/whitelist"},
	{"POST", "/api/v1/greylist/whitelist"},
	{"DELETE", "/api/v1/greylist/whitelist?entry=192.0.2.0/24"},
	{"GET", "/api/v1/audit"},
	{"GET", "/api/v1/no-such-thing"},
}

// TestAdminAPIAuth: every endpoint refuses a request without credentials
// and one with a wrong password (401 with a Basic challenge), and answers
// none of them with data.
func TestAdminAPIAuth(t *testing.T) {
	r := startAdminRig(t, "")
	addr := r.d.AdminAddr()
	for i, ep := range apiEndpoints {
		t.Run(ep.method+" "+ep.path, func(t *testing.T) {
			for _, cred := range []struct{ name, user, pass string }{
				{"none", "", ""}, {"wrong password", adminUser, "Wr0ngPa55"}, {"unknown user", "mallory", adminPass},
			} {
				// A source address per endpoint: three failures each stay under the limit.
				c := newAPIClient(addr, fmt.Sprintf("127.0.1.%d", i+1), cred.user, cred.pass)
				code, h, body := c.call(t, ep.method, ep.path, []byte(`{}`))
				if code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
					t.Errorf("%s: %d (WWW-Authenticate %q) %s, want 401 with a Basic challenge", cred.name, code, h.Get("WWW-Authenticate"), body)
				}
				var e struct{ Error string }
				if json.Unmarshal(body, &e) != nil || e.Error == "" {
					t.Errorf("%s: body %s is not {\"error\": …}", cred.name, body)
				}
			}
		})
	}
	if logs := r.logs.String(); strings.Contains(logs, "Wr0ngPa55") || strings.Contains(logs, adminPass) {
		t.Error("a password is in the log")
	}
}

// TestAdminAPIRateLimit: past login_max_failures from one client, even
// the right password gets 429 (with Retry-After); another client is not
// affected.
func TestAdminAPIRateLimit(t *testing.T) {
	r := startAdminRig(t, "")
	addr := r.d.AdminAddr()
	bad := newAPIClient(addr, "127.0.2.1", adminUser, "guess")
	for i := range 3 {
		if code, _, _ := bad.call(t, "GET", "/api/v1/rules", nil); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, code)
		}
	}
	good := newAPIClient(addr, "127.0.2.1", adminUser, adminPass)
	code, h, body := good.call(t, "GET", "/api/v1/rules", nil)
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("right password after 3 failures: %d (Retry-After %q) %s, want 429", code, h.Get("Retry-After"), body)
	}
	other := newAPIClient(addr, "127.0.2.2", adminUser, adminPass)
	other.must(t, "GET", "/api/v1/rules", nil, http.StatusOK, nil)
	logs := r.logs.String()
	if !strings.Contains(logs, "admin login refused: too many failures") {
		t.Error("the limited login is not logged")
	}
	if strings.Contains(logs, "guess") || strings.Contains(logs, adminPass) {
		t.Error("a password is in the log")
	}
}

// TestAdminRuleLive: a require_tls rule POSTed for alice@corp.test refuses
// the next cleartext transaction through the milter with 550 5.7.10;
// DELETE lets the next one pass; a configuration rule is not editable; the
// audit has both changes; a bad rule gets check-config's words.
func TestAdminRuleLive(t *testing.T) {
	r := startAdminRig(t, "")
	c := newAPIClient(r.d.AdminAddr(), "127.0.3.1", adminUser, adminPass)
	tx := miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"alice@corp.test", "carol@corp.test"}}
	if got := r.run(t, tx).Refused("alice@corp.test"); got != "" {
		t.Fatalf("before the rule: %q", got)
	}

	var rule admin.RuleView
	c.must(t, "POST", "/api/v1/rules", map[string]any{"recipient": "alice@corp.test", "require_tls": true}, http.StatusCreated, &rule)
	if !rule.Editable || rule.Source != "admin:"+rule.ID || rule.Keys["require_tls"] != true {
		t.Fatalf("created rule: %+v", rule)
	}
	res := r.run(t, tx)
	if got := res.Refused("alice@corp.test"); !strings.HasPrefix(got, "550 5.7.10 ") {
		t.Errorf("cleartext after the rule: %q, want 550 5.7.10", got)
	}
	if got := res.Refused("carol@corp.test"); got != "" {
		t.Errorf("the other recipient: %q", got)
	}
	overTLS := tx
	overTLS.TLSVersion, overTLS.Cipher, overTLS.CipherBits = "TLSv1.3", "TLS_AES_256_GCM_SHA384", "256"
	if got := r.run(t, overTLS).Refused("alice@corp.test"); got != "" {
		t.Errorf("over TLS after the rule: %q", got)
	}

	var look admin.LookupView
	c.must(t, "GET", "/api/v1/lookup?recipient=Alice@corp.test", nil, http.StatusOK, &look)
	if look.Rule == nil || look.Rule.ID != rule.ID || !strings.Contains(look.Why, "admin:"+rule.ID) {
		t.Errorf("lookup: %+v", look)
	}
	var rep struct {
		Recipients []struct {
			Rcpt, Rule string
			Reply      *struct{ Code int }
		}
	}
	c.must(t, "POST", "/api/v1/explain", map[string]any{"client": "192.0.2.10", "helo": "helo.good.test", "from": "user@good.test",
		"to": []string{"alice@corp.test"}}, http.StatusOK, &rep)
	if len(rep.Recipients) != 1 || rep.Recipients[0].Reply == nil || rep.Recipients[0].Reply.Code != 550 || rep.Recipients[0].Rule != "admin:"+rule.ID {
		t.Errorf("explain: %+v", rep)
	}

	var list []admin.RuleView
	c.must(t, "GET", "/api/v1/rules", nil, http.StatusOK, &list)
	var cfgRule *admin.RuleView
	for i := range list {
		if list[i].ID == "config-1" {
			cfgRule = &list[i]
		}
	}
	if len(list) != 2 || cfgRule == nil || cfgRule.Editable || !strings.HasSuffix(cfgRule.Source, "spamgate.toml:47") && !strings.Contains(cfgRule.Source, "spamgate.toml:") {
		t.Fatalf("rules: %+v", list)
	}
	for _, m := range []string{"PUT", "DELETE"} {
		if code, _, body := c.call(t, m, "/api/v1/rules/config-1", map[string]any{"recipient": "bob@corp.test"}); code != http.StatusForbidden {
			t.Errorf("%s of a configuration rule: %d %s, want 403", m, code, body)
		}
	}

	c.must(t, "DELETE", "/api/v1/rules/"+rule.ID, nil, http.StatusNoContent, nil)
	if got := r.run(t, tx).Refused("alice@corp.test"); got != "" {
		t.Errorf("after DELETE: %q", got)
	}
	if code, _, _ := c.call(t, "DELETE", "/api/v1/rules/"+rule.ID, nil); code != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", code)
	}

	var audit []admin.AuditEntry
	c.must(t, "GET", "/api/v1/audit", nil, http.StatusOK, &audit)
	if len(audit) != 2 || audit[0].Action != "rule.delete" || audit[1].Action != "rule.add" ||
		audit[0].User != adminUser || audit[0].Before == nil || audit[0].After != nil || audit[1].After == nil {
		t.Errorf("audit: %+v", audit)
	}
}

// TestAdminRuleValidation: a bad rule is 400 with the very message
// check-config gives for the same keys in a [[policy.rule]]; nothing is
// written; a body over the cap is 413; a body that is not JSON is 415.
func TestAdminRuleValidation(t *testing.T) {
	r := startAdminRig(t, "")
	c := newAPIClient(r.d.AdminAddr(), "127.0.3.2", adminUser, adminPass)
	tests := []struct {
		name, toml string
		keys       map[string]any
	}{
		{"version", `min_tls_version = "TLSv9"`, map[string]any{"min_tls_version": "TLSv9"}},
		{"reply", `tls_reply = 250`, map[string]any{"tls_reply": 250}},
		{"unknown key", `require_tsl = true`, map[string]any{"require_tsl": true}},
		{"type", `require_tls = "yes"`, map[string]any{"require_tls": "yes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := map[string]any{"recipient": "alice@corp.test"}
			for k, v := range tt.keys {
				keys[k] = v
			}
			code, _, body := c.call(t, "POST", "/api/v1/rules", keys)
			var e struct{ Error string }
			if code != http.StatusBadRequest || json.Unmarshal(body, &e) != nil {
				t.Fatalf("%d %s, want 400", code, body)
			}
			file := filepath.Join(t.TempDir(), "check.toml")
			writeConfig(t, file, "[[policy.rule]]\nrecipient = \"alice@corp.test\"\n"+tt.toml+"\n")
			_, err := config.Load(file)
			if err == nil {
				t.Fatal("check-config accepts the rule")
			}
			if !strings.HasSuffix(err.Error(), e.Error) || !strings.Contains(e.Error, strings.Fields(tt.toml)[0]) {
				t.Errorf("API: %q\ncheck-config: %q", e.Error, err)
			}
		})
	}
	if _, err := os.Stat(r.rules); !os.IsNotExist(err) {
		t.Errorf("a refused rule wrote the rules file: %v", err)
	}
	big := []byte(`{"recipient": "alice@corp.test", "reply_text": "` + strings.Repeat("x", admin.MaxBodyBytes) + `"}`)
	if code, _, body := c.call(t, "POST", "/api/v1/rules", big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d %s, want 413", code, body)
	}
	req, _ := http.NewRequest("POST", c.base+"/api/v1/rules", strings.NewReader("recipient=alice@corp.test&require_tls=true"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(adminUser, adminPass)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("form body: %d, want 415 (a cross-site form must not change rules)", resp.StatusCode)
	}
}

// TestAdminRulesSurviveRestart: a rule added through the API is in the
// rules file and in force after a restart; a hand-broken file fails the
// start with its line.
func TestAdminRulesSurviveRestart(t *testing.T) {
	r := startAdminRig(t, "")
	c := newAPIClient(r.d.AdminAddr(), "127.0.3.3", adminUser, adminPass)
	var rule admin.RuleView
	c.must(t, "POST", "/api/v1/rules", map[string]any{"recipient": "corp.test", "require_tls": true, "min_tls_version": "TLSv1.2"}, http.StatusCreated, &rule)
	var upd admin.RuleView
	c.must(t, "PUT", "/api/v1/rules/"+rule.ID, map[string]any{"recipient": "corp.test", "require_tls": true, "min_tls_version": "TLSv1.3"}, http.StatusOK, &upd)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	cfg, err := config.Load(r.file)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Start(cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Shutdown(context.Background()) })
	c2 := newAPIClient(d.AdminAddr(), "127.0.3.3", adminUser, adminPass)
	var list []admin.RuleView
	c2.must(t, "GET", "/api/v1/rules?recipient=someone@corp.test", nil, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != rule.ID || list[0].Keys["min_tls_version"] != "TLSv1.3" || list[0].By != adminUser {
		t.Fatalf("after restart: %+v", list)
	}
	r2 := &rig{d: d, addr: d.Addr().String()}
	tls12 := miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"x@corp.test"},
		TLSVersion: "TLSv1.2", Cipher: "ECDHE-RSA-AES256-GCM-SHA384", CipherBits: "256"}
	if got := r2.run(t, tls12).Refused("x@corp.test"); !strings.HasPrefix(got, "550 5.7.10 ") {
		t.Errorf("TLSv1.2 after restart under a TLSv1.3 rule: %q", got)
	}

	data, err := os.ReadFile(r.rules)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.NewReplacer(`"TLSv1.3"`, `"TLSv9"`, `'TLSv1.3'`, `'TLSv9'`).Replace(string(data))
	writeConfig(t, r.rules, broken)
	d3, err := Start(cfg, slog.New(slog.DiscardHandler), nil)
	if err == nil {
		_ = d3.Shutdown(context.Background())
	}
	if err == nil || !strings.Contains(err.Error(), r.rules+":") || !strings.Contains(err.Error(), `min_tls_version: "TLSv9"`) {
		t.Errorf("start with a broken rules file: %v", err)
	}
}

// TestAdminRedisRulesReadOnly: the rules of [policy.redis] (a real
// redis-server) are listed with their key, not editable, and Lookup weighs
// them against the others.
func TestAdminRedisRulesReadOnly(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.HSet(ctx, "spamgate:policy:corp.test", "require_tls", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, "spamgate:policy:broken.test", "require_tls", "perhaps").Err(); err != nil {
		t.Fatal(err)
	}
	r := startAdminRig(t, fmt.Sprintf("\n[policy.redis]\naddresses = [%q]\n", srv.Addr()))
	c := newAPIClient(r.d.AdminAddr(), "127.0.3.4", adminUser, adminPass)
	var list []admin.RuleView
	c.must(t, "GET", "/api/v1/rules", nil, http.StatusOK, &list)
	var redisRule, brokenRule *admin.RuleView
	for i := range list {
		switch list[i].Source {
		case "redis:spamgate:policy:corp.test":
			redisRule = &list[i]
		case "redis:spamgate:policy:broken.test":
			brokenRule = &list[i]
		}
	}
	if redisRule == nil || redisRule.Editable || redisRule.Keys["require_tls"] != true || redisRule.Keys["recipient"] != "corp.test" {
		t.Fatalf("redis rule: %+v in %+v", redisRule, list)
	}
	if brokenRule == nil || !strings.Contains(brokenRule.Error, "perhaps") {
		t.Errorf("broken redis hash: %+v", brokenRule)
	}
	if code, _, body := c.call(t, "PUT", "/api/v1/rules/"+redisRule.ID, map[string]any{"recipient": "corp.test"}); code != http.StatusForbidden {
		t.Errorf("PUT on a Redis rule: %d %s, want 403", code, body)
	}
	// The admin rule at an equal key wins over Redis's; a more specific
	// key wins whatever the source.
	var added admin.RuleView
	c.must(t, "POST", "/api/v1/rules", map[string]any{"recipient": "corp.test", "require_tls": false}, http.StatusCreated, &added)
	var look admin.LookupView
	c.must(t, "GET", "/api/v1/lookup?recipient=x@corp.test", nil, http.StatusOK, &look)
	if look.Rule == nil || look.Rule.ID != added.ID || len(look.Candidates) != 2 {
		t.Errorf("lookup at an equal key: %+v", look)
	}
	tx := miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"x@corp.test"}}
	if got := r.run(t, tx).Refused("x@corp.test"); got != "" {
		t.Errorf("the admin rule (require_tls = false) at Redis's key did not win: %q", got)
	}
	if err := rdb.HSet(ctx, "spamgate:policy:x@corp.test", "require_tls", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	if got := r.run(t, tx).Refused("x@corp.test"); !strings.HasPrefix(got, "550 5.7.10 ") {
		t.Errorf("a more specific Redis key: %q, want 550 5.7.10", got)
	}
}

// TestAdminGreylistAPI: whitelist add, list, remove, release and status
// on the daemon's own greylist store, each change audited.
func TestAdminGreylistAPI(t *testing.T) {
	r := startAdminRig(t, "")
	c := newAPIClient(r.d.AdminAddr(), "127.0.3.5", adminUser, adminPass)
	c.must(t, "POST", "/api/v1/greylist/whitelist", map[string]string{"entry": "198.51.100.7/24"}, http.StatusOK, nil)
	var wl []admin.WhitelistView
	c.must(t, "GET", "/api/v1/greylist/whitelist", nil, http.StatusOK, &wl)
	if len(wl) != 1 || wl[0].Kind != "network" || wl[0].Value != "198.51.100.0/24" {
		t.Fatalf("whitelist: %+v", wl)
	}
	c.must(t, "DELETE", "/api/v1/greylist/whitelist?entry=198.51.100.0/24", nil, http.StatusNoContent, nil)
	c.must(t, "GET", "/api/v1/greylist/whitelist", nil, http.StatusOK, &wl)
	if len(wl) != 0 {
		t.Fatalf("whitelist after DELETE: %+v", wl)
	}
	c.must(t, "POST", "/api/v1/greylist/release", map[string]string{"client": "192.0.2.10", "sender": "user@good.test", "recipient": "x@corp.test"}, http.StatusOK, nil)
	var st admin.GreylistView
	c.must(t, "GET", "/api/v1/greylist?client=192.0.2.10&sender=user@good.test&recipient=x@corp.test", nil, http.StatusOK, &st)
	if st.PassedAt == nil {
		t.Errorf("status after release: %+v", st)
	}
	if code, _, _ := c.call(t, "POST", "/api/v1/greylist/whitelist", map[string]string{"entry": ""}); code != http.StatusBadRequest {
		t.Errorf("empty entry: %d, want 400", code)
	}
	var audit []admin.AuditEntry
	c.must(t, "GET", "/api/v1/audit", nil, http.StatusOK, &audit)
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, " "); got != "greylist.release greylist.unwhitelist greylist.whitelist" {
		t.Errorf("audit actions: %s", got)
	}
}

// TestAdminDecisionsRolloutDashboard: a cleartext transaction refused
// through the milter by a rule added in the API is found by the decisions
// search with that rule as its cause, the rollout advisor names its
// client and sender domain, the dashboard counts it; the console's
// metrics count logins, requests and changes.
func TestAdminDecisionsRolloutDashboard(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "history")
	r := startAdminRigTweak(t, "", func(c *config.Config) { c.Admin.HistoryStore, c.Admin.HistoryDir = "file", dir })
	c := newAPIClient(r.d.AdminAddr(), "127.0.3.6", adminUser, adminPass)
	var rule admin.RuleView
	c.must(t, "POST", "/api/v1/rules", map[string]any{"recipient": "alice@corp.test", "require_tls": true}, http.StatusCreated, &rule)
	tx := miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"alice@corp.test"}}
	if got := r.run(t, tx).Refused("alice@corp.test"); !strings.HasPrefix(got, "550 5.7.10 ") {
		t.Fatalf("cleartext: %q", got)
	}
	syncHistory(t, r.d, 1)

	var recs []history.Record
	c.must(t, "GET", "/api/v1/decisions?recipient=ALICE@corp.test&client=192.0.2.10&since=1h", nil, http.StatusOK, &recs)
	if len(recs) != 1 || len(recs[0].Recipients) != 1 || recs[0].Recipients[0].Rule != "admin:"+rule.ID ||
		!strings.HasPrefix(recs[0].Recipients[0].Reply, "550 5.7.10 ") || recs[0].Recipients[0].Check != "tls" {
		t.Errorf("decisions: %+v", recs)
	}
	c.must(t, "GET", "/api/v1/decisions?sender=nobody@else.test", nil, http.StatusOK, &recs)
	if len(recs) != 0 {
		t.Errorf("decisions of another sender: %+v", recs)
	}
	if code, _, body := c.call(t, "GET", "/api/v1/decisions?since=yesterday", nil); code != http.StatusBadRequest {
		t.Errorf("since=yesterday: %d %s, want 400", code, body)
	}
	var rows []history.RolloutRow
	c.must(t, "GET", "/api/v1/rollout?recipient=corp.test&days=1&min_tls_version=TLSv1.2", nil, http.StatusOK, &rows)
	if len(rows) != 1 || rows[0].Client != "192.0.2.10" || rows[0].SenderDomain != "good.test" || rows[0].Count != 1 || rows[0].TLSVersion != "" {
		t.Errorf("rollout: %+v", rows)
	}
	if code, _, body := c.call(t, "GET", "/api/v1/rollout?recipient=corp.test&min_tls_version=SSLv3", nil); code != http.StatusBadRequest {
		t.Errorf("min_tls_version=SSLv3: %d %s, want 400", code, body)
	}
	var st history.Stats
	c.must(t, "GET", "/api/v1/dashboard", nil, http.StatusOK, &st)
	if st.Transactions != 1 || st.Refusals["tls"] != 1 || st.TLSVersions["cleartext"] != 1 {
		t.Errorf("dashboard: %+v", st)
	}

	counts := map[string]float64{}
	mfs, err := r.d.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "spamgate_admin_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			counts[key] = m.GetCounter().GetValue()
		}
	}
	for key, want := range map[string]float64{
		"spamgate_admin_logins_total,result=ok":                                   7,
		"spamgate_admin_requests_total,endpoint=GET /api/v1/decisions,status=200": 2,
		"spamgate_admin_requests_total,endpoint=GET /api/v1/decisions,status=400": 1,
		"spamgate_admin_requests_total,endpoint=POST /api/v1/rules,status=201":    1,
		"spamgate_admin_changes_total,action=rule.add":                            1,
	} {
		if counts[key] != want {
			t.Errorf("%s = %v, want %v", key, counts[key], want)
		}
	}
}

// TestAdminTLS: with tls_cert and tls_key the console speaks HTTPS only
// (TLS 1.2 and later) and the API works over it; a plain HTTP request
// gets no API answer.
func TestAdminTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")
	if err := testcert.WriteSelfSigned(cert, key, "mx.test"); err != nil {
		t.Fatal(err)
	}
	r := startAdminRigTweak(t, "", func(c *config.Config) { c.Admin.TLSCert, c.Admin.TLSKey = cert, key })
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	addr := r.d.AdminAddr().String()
	c := &apiClient{base: "https://" + addr, user: adminUser, pass: adminPass, http: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	c.must(t, "GET", "/api/v1/rules", nil, http.StatusOK, nil)

	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get("https://" + addr + "/api/v1/rules"); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was served")
	}
	plain := &apiClient{base: "http://" + addr, user: adminUser, pass: adminPass, http: &http.Client{Timeout: 10 * time.Second}}
	if code, _, body := plain.call(t, "GET", "/api/v1/rules", nil); code == http.StatusOK {
		t.Errorf("plain HTTP was answered: %s", body)
	}
}
