package admin

import (
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"spamgate/greylist"
	"spamgate/history"
	"spamgate/metrics"
)

// The web UI's HTTP-level tests: sessions, CSRF, headers, escaping. They
// drive the real handlers over a real loopback HTTP server; the Console
// behind them is webFake (below), which answers from fixed data, so that
// these tests need no engine. The browser tests (e2e) use the real Console.

// webFake answers the Console actions the UI asks for from fixed data.
type webFake struct {
	records   []history.Record
	rollout   []history.RolloutRow
	rules     []RuleView
	audit     []AuditEntry
	whitelist []greylist.WhitelistEntry
}

func (f *webFake) CheckPassword(ctx context.Context, user, pass, clientIP string) error {
	if user == "admin" && pass == "secret" {
		return nil
	}
	if user == "limited" {
		return ErrRateLimited
	}
	return ErrBadLogin
}

func (f *webFake) Dashboard(ctx context.Context) (history.Stats, error) {
	return history.Stats{Transactions: 3, Refusals: map[string]int{"tls": 2, "<b>x</b>": 1}, TLSVersions: map[string]int{"cleartext": 2, "TLSv1.3": 1}}, nil
}

func (f *webFake) Decisions(ctx context.Context, flt history.Filter) ([]history.Record, error) {
	return f.records, nil
}

func (f *webFake) Rollout(ctx context.Context, pattern string, days int, minTLS string) ([]history.RolloutRow, error) {
	return f.rollout, nil
}

func (f *webFake) Rules(ctx context.Context, filter string) ([]RuleView, error) {
	return f.rules, nil
}

func (f *webFake) AddRule(ctx context.Context, user string, keys map[string]any) (RuleView, error) {
	if keys["recipient"] == "bad" {
		return RuleView{}, &ValidationError{Msg: "recipient: \"bad\" is not an address or a domain"}
	}
	v := RuleView{ID: fmt.Sprint(len(f.rules) + 1), Source: "admin:x", Editable: true, Keys: keys}
	f.rules = append(f.rules, v)
	f.audit = append(f.audit, AuditEntry{User: user, Action: "rule.add", After: v})
	return v, nil
}

func (f *webFake) UpdateRule(ctx context.Context, user, id string, keys map[string]any) (RuleView, error) {
	for i, r := range f.rules {
		if r.ID == id && r.Editable {
			f.rules[i].Keys = keys
			return f.rules[i], nil
		}
	}
	return RuleView{}, ErrNotFound
}

func (f *webFake) DeleteRule(ctx context.Context, user, id string) error {
	for i, r := range f.rules {
		if r.ID == id {
			if !r.Editable {
				return ErrNotEditable
			}
			f.rules = append(f.rules[:i], f.rules[i+1:]...)
			return nil
		}
	}
	return ErrNotFound
}

func (f *webFake) Lookup(ctx context.Context, rcpt string) (LookupView, error) {
	v := LookupView{Recipient: rcpt, Keys: []string{rcpt, "*"}, Why: "why " + rcpt}
	if len(f.rules) > 0 {
		v.Rule = &f.rules[0]
		v.Candidates = []LookupCandidate{{Source: "admin", Rank: 0, Rule: f.rules[0]}}
	}
	return v, nil
}

func (f *webFake) Audit(ctx context.Context, limit int) ([]AuditEntry, error) { return f.audit, nil }

func (f *webFake) GreylistStatus(ctx context.Context, client, sender, rcpt string) (GreylistView, error) {
	return GreylistView{Client: client, Sender: sender, Recipient: rcpt, Suspicion: []string{"no reverse name " + client}, Reply: "451 4.7.1 " + rcpt}, nil
}

func (f *webFake) GreylistRelease(ctx context.Context, user, client, sender, rcpt string) error {
	return nil
}

func (f *webFake) GreylistWhitelist(ctx context.Context, user, entry string, add bool) error {
	if add {
		f.whitelist = append(f.whitelist, greylist.WhitelistEntry{Kind: "domain", Value: entry})
	}
	return nil
}

func (f *webFake) GreylistWhitelistEntries(ctx context.Context) ([]greylist.WhitelistEntry, error) {
	return f.whitelist, nil
}

// webClient is a browser-like client of a test server: a cookie jar, no
// automatic redirects (the tests look at them).
type webClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newWebServer(t *testing.T, console webConsole) *webClient {
	t.Helper()
	ui, err := newWebUI(console, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ui.routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return &webClient{t: t, base: srv.URL, c: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request and returns the response with its body read.
func (wc *webClient) do(method, path string, form url.Values) (*http.Response, string) {
	wc.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, wc.base+path, body)
	if err != nil {
		wc.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := wc.c.Do(req)
	if err != nil {
		wc.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		wc.t.Fatal(err)
	}
	return resp, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf is the CSRF token in a page's first form.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in page:\n%s", page)
	}
	return m[1]
}

// login logs in as admin and returns the session's CSRF token.
func (wc *webClient) login() string {
	wc.t.Helper()
	_, page := wc.do("GET", "/login", nil)
	resp, _ := wc.do("POST", "/login", url.Values{"csrf": {csrfOf(wc.t, page)}, "name": {"admin"}, "password": {"secret"}, "next": {"/"}})
	if resp.StatusCode != http.StatusSeeOther {
		wc.t.Fatalf("login: status %d", resp.StatusCode)
	}
	_, page = wc.do("GET", "/", nil)
	return csrfOf(wc.t, page)
}

// webGETPages and webPOSTs are every page and every form target.
var webGETPages = []string{"/", "/rules", "/rules/1", "/lookup", "/decisions", "/rollout", "/greylist", "/audit"}
var webPOSTs = []string{"/logout", "/rules", "/rules/1", "/rules/1/delete", "/greylist/release", "/greylist/whitelist"}

func TestWebWithoutSession(t *testing.T) {
	wc := newWebServer(t, &webFake{})
	for _, p := range webGETPages {
		resp, _ := wc.do("GET", p, nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("GET %s without a session: %d %q, want 303 to /login", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	for _, p := range webPOSTs {
		resp, _ := wc.do("POST", p, url.Values{"csrf": {"x"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST %s without a session: %d, want 401", p, resp.StatusCode)
		}
	}
}

func TestWebForgedCookie(t *testing.T) {
	wc := newWebServer(t, &webFake{})
	wc.login()
	u, _ := url.Parse(wc.base)
	for _, forged := range []string{"", "x", strings.Repeat("A", 43), "../../etc/passwd", strings.Repeat("z", 5000)} {
		jar, _ := cookiejar.New(nil)
		jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: forged}})
		c := *wc.c
		c.Jar = jar
		other := &webClient{t: t, base: wc.base, c: &c}
		for _, p := range webGETPages {
			if resp, _ := other.do("GET", p, nil); resp.StatusCode != http.StatusSeeOther {
				t.Errorf("GET %s with forged cookie %.20q: %d, want 303", p, forged, resp.StatusCode)
			}
		}
		if resp, _ := other.do("POST", "/logout", url.Values{"csrf": {"x"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST with forged cookie %.20q: %d, want 401", forged, resp.StatusCode)
		}
	}
}

func TestWebLogin(t *testing.T) {
	wc := newWebServer(t, &webFake{})
	_, page := wc.do("GET", "/login", nil)
	token := csrfOf(t, page)
	cases := []struct {
		name string
		form url.Values
		want int
	}{
		{"no csrf token", url.Values{"name": {"admin"}, "password": {"secret"}}, http.StatusForbidden},
		{"wrong csrf token", url.Values{"csrf": {token + "x"}, "name": {"admin"}, "password": {"secret"}}, http.StatusForbidden},
		{"wrong password", url.Values{"csrf": {token}, "name": {"admin"}, "password": {"nope"}}, http.StatusUnauthorized},
		{"unknown user", url.Values{"csrf": {token}, "name": {"mallory"}, "password": {"secret"}}, http.StatusUnauthorized},
		{"rate limited", url.Values{"csrf": {token}, "name": {"limited"}, "password": {"secret"}}, http.StatusTooManyRequests},
	}
	for _, c := range cases {
		// Each refused form gets a fresh log-in page (and token).
		_, page := wc.do("GET", "/login", nil)
		if c.form.Get("csrf") != "" {
			tok := csrfOf(t, page)
			c.form.Set("csrf", strings.Replace(c.form.Get("csrf"), token, tok, 1))
		}
		resp, body := wc.do("POST", "/login", c.form)
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d", c.name, resp.StatusCode, c.want)
		}
		for _, ck := range resp.Cookies() {
			if ck.Name == sessionCookie && ck.Value != "" {
				t.Errorf("%s: got a session cookie", c.name)
			}
		}
		if c.want != http.StatusForbidden && (!strings.Contains(body, `aria-describedby="e-password"`) || strings.Contains(body, "nope")) {
			t.Errorf("%s: the error is not tied to the field, or the password is echoed:\n%s", c.name, body)
		}
	}

	// The right password: a session cookie with every attribute, and back
	// to the page asked for.
	_, page = wc.do("GET", "/login?next=/decisions%3Fsender%3Dx", nil)
	resp, _ := wc.do("POST", "/login", url.Values{"csrf": {csrfOf(t, page)}, "name": {"admin"}, "password": {"secret"}, "next": {"/decisions?sender=x"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/decisions?sender=x" {
		t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var sc *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			sc = ck
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/" || sc.Secure {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP", sc)
	}
	if raw, err := base64URLLen(sc.Value); err != nil || raw != 32 {
		t.Errorf("session id %q: %d random bytes (%v), want 32", sc.Value, raw, err)
	}
	if resp, _ := wc.do("GET", "/decisions?sender=x", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("after login: %d", resp.StatusCode)
	}
}

func base64URLLen(s string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return len(b), err
}

func TestWebCSRF(t *testing.T) {
	wc := newWebServer(t, &webFake{})
	token := wc.login()
	for _, p := range webPOSTs {
		for _, form := range []url.Values{{}, {"csrf": {""}}, {"csrf": {token[:len(token)-1]}}, {"csrf": {strings.ToUpper(token)}}} {
			if resp, _ := wc.do("POST", p, form); resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with csrf %q: %d, want 403", p, form.Get("csrf"), resp.StatusCode)
			}
		}
	}
	// Still logged in; the right token logs out.
	if resp, _ := wc.do("POST", "/logout", url.Values{"csrf": {token}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := wc.do("GET", "/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout: %d, want 303 to the log-in page", resp.StatusCode)
	}
}

func TestWebSecurityHeaders(t *testing.T) {
	wc := newWebServer(t, &webFake{})
	wc.login()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	}
	paths := append([]string{"/login", "/static/style.css", "/decisions?since=bogus", "/nowhere", "/static/"}, webGETPages...)
	for _, p := range paths {
		resp, body := wc.do("GET", p, nil)
		if (p == "/nowhere" || p == "/static/") && resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
		for h, v := range want {
			if got := resp.Header.Get(h); !strings.Contains(got, v) {
				t.Errorf("GET %s: %s = %q, want %q", p, h, got, v)
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: CSP %q", p, csp)
		}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			for _, s := range []string{`<html lang="en">`, `class="skip" href="#main"`, `<main id="main"`, "<h1>"} {
				if !strings.Contains(body, s) {
					t.Errorf("GET %s: page lacks %s", p, s)
				}
			}
			if strings.Contains(body, "<script") || strings.Contains(body, " style=") {
				t.Errorf("GET %s: inline script or style", p)
			}
		}
	}
}

// TestWebEscapesHostileValues: every value from mail lands on the page
// escaped (the browser test checks the same in chromium).
func TestWebEscapesHostileValues(t *testing.T) {
	hostile := []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(2)>`, `' onmouseover='alert(3)`, `</td></tr></table><svg onload=alert(4)>`}
	var recs []history.Record
	var rows []history.RolloutRow
	for i, h := range hostile {
		recs = append(recs, history.Record{Time: time.Unix(1e9, 0), Client: "192.0.2.1", ClientName: h, Helo: h, Sender: h + "@x.test", QueueID: h,
			Recipients: []history.Recipient{{Addr: h + "@corp.test", Reply: "550 5.7.10 " + h, Check: h, Rule: h, Reason: h}}, Reply: h, Check: h, SPF: h})
		rows = append(rows, history.RolloutRow{Client: h, ClientName: h, SenderDomain: h, TLSVersion: h, Count: i + 1, Recipients: []string{h}})
	}
	fake := &webFake{records: recs, rollout: rows}
	for _, h := range hostile {
		v := RuleView{ID: "r" + fmt.Sprint(len(fake.rules)), Source: h, Editable: true, By: h, Keys: map[string]any{"recipient": h, "sender": h, "reply_text": h}}
		fake.rules = append(fake.rules, v)
		fake.audit = append(fake.audit, AuditEntry{User: h, Action: h, Target: h, Before: v, After: h})
		fake.whitelist = append(fake.whitelist, greylist.WhitelistEntry{Kind: h, Value: h})
	}
	wc := newWebServer(t, fake)
	wc.login()
	q := url.QueryEscape
	for _, p := range []string{
		"/decisions?recipient=" + q(hostile[0]), "/rollout?recipient=" + q(hostile[1]), "/",
		"/rules?recipient=" + q(hostile[2]), "/rules/r0", "/lookup?recipient=" + q(hostile[3]), "/audit",
		"/greylist?client=" + q(hostile[0]) + "&sender=" + q(hostile[1]) + "&recipient=" + q(hostile[2]),
	} {
		resp, body := wc.do("GET", p, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", p, resp.StatusCode, body)
		}
		for _, h := range hostile {
			if strings.Contains(body, h) {
				t.Errorf("GET %s: %q appears unescaped", p, h)
			}
		}
		if p != "/" && !strings.Contains(body, html.EscapeString(hostile[0])) && !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("GET %s: the escaped value is missing", p)
		}
		if strings.Contains(body, "<script") || strings.Contains(body, "<img") || strings.Contains(body, "<svg") {
			t.Errorf("GET %s: a tag from the data made it into the page", p)
		}
	}
}

// TestWebRules: add (with a field error and a Console validation error
// tied to its field), edit and delete a rule; read-only rules have no
// buttons.
func TestWebRules(t *testing.T) {
	fake := &webFake{rules: []RuleView{{ID: "config-1", Source: "/etc/spamgate.toml:12", Keys: map[string]any{"recipient": "ro.test"}}}}
	wc := newWebServer(t, fake)
	token := wc.login()
	_, page := wc.do("GET", "/rules", nil)
	if !strings.Contains(page, "/etc/spamgate.toml:12") || !strings.Contains(page, "read-only") || strings.Contains(page, "/rules/config-1/delete") {
		t.Errorf("read-only rule:\n%s", page)
	}
	cases := []struct {
		name   string
		form   url.Values
		status int
		field  string
	}{
		{"not a number", url.Values{"recipient": {"a@corp.test"}, "min_cipher_bits": {"lots"}}, http.StatusBadRequest, "min_cipher_bits"},
		{"not a choice", url.Values{"recipient": {"a@corp.test"}, "min_tls_version": {"SSLv3"}}, http.StatusBadRequest, "min_tls_version"},
		{"console refuses", url.Values{"recipient": {"bad"}}, http.StatusBadRequest, "recipient"},
	}
	for _, c := range cases {
		c.form.Set("csrf", token)
		resp, body := wc.do("POST", "/rules", c.form)
		if resp.StatusCode != c.status || !strings.Contains(body, `id="e-`+c.field+`"`) || !strings.Contains(body, `aria-describedby="h-`+c.field+` e-`+c.field+`"`) && !strings.Contains(body, `aria-describedby="e-`+c.field+`"`) {
			t.Errorf("%s: %d, error not tied to %s:\n%s", c.name, resp.StatusCode, c.field, body)
		}
		if !strings.Contains(body, `value="`+c.form.Get("recipient")+`"`) {
			t.Errorf("%s: the form lost its values", c.name)
		}
	}
	resp, _ := wc.do("POST", "/rules", url.Values{"csrf": {token}, "recipient": {"alice@corp.test"}, "require_tls": {"true"}, "min_tls_version": {"TLSv1.2"}, "tls_reply": {"450"}, "dnsbl_threshold": {"2.5"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/rules?done=added" {
		t.Fatalf("add: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	added := fake.rules[1]
	want := map[string]any{"recipient": "alice@corp.test", "require_tls": true, "min_tls_version": "TLSv1.2", "tls_reply": int64(450), "dnsbl_threshold": 2.5}
	if fmt.Sprint(added.Keys) != fmt.Sprint(want) {
		t.Errorf("keys = %v, want %v", added.Keys, want)
	}
	_, page = wc.do("GET", "/rules?done=added", nil)
	if !strings.Contains(page, "Rule added.") || !strings.Contains(page, `action="/rules/2/delete"`) {
		t.Errorf("after add:\n%s", page)
	}
	_, page = wc.do("GET", "/rules/2", nil)
	if !strings.Contains(page, `value="alice@corp.test"`) || !strings.Contains(page, `<option value="TLSv1.2" selected>`) {
		t.Errorf("edit form not filled:\n%s", page)
	}
	resp, _ = wc.do("POST", "/rules/2", url.Values{"csrf": {token}, "recipient": {"alice@corp.test"}, "require_tls": {"false"}})
	if resp.StatusCode != http.StatusSeeOther || fake.rules[1].Keys["require_tls"] != false || len(fake.rules[1].Keys) != 2 {
		t.Errorf("update: %d, keys %v", resp.StatusCode, fake.rules[1].Keys)
	}
	if resp, _ := wc.do("POST", "/rules/config-1/delete", url.Values{"csrf": {token}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("delete of a read-only rule: %d, want 403", resp.StatusCode)
	}
	if resp, _ := wc.do("GET", "/rules/nope", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("edit of an unknown rule: %d, want 404", resp.StatusCode)
	}
	if resp, _ := wc.do("POST", "/rules/2/delete", url.Values{"csrf": {token}}); resp.StatusCode != http.StatusSeeOther || len(fake.rules) != 1 {
		t.Errorf("delete: %d, %d rules left", resp.StatusCode, len(fake.rules))
	}
}

func TestWebGreylist(t *testing.T) {
	fake := &webFake{}
	wc := newWebServer(t, fake)
	token := wc.login()
	_, page := wc.do("GET", "/greylist?client=192.0.2.9&sender=a@b.test&recipient=c@d.test", nil)
	if !strings.Contains(page, "no reverse name 192.0.2.9") || !strings.Contains(page, `action="/greylist/release"`) {
		t.Errorf("status:\n%s", page)
	}
	resp, _ := wc.do("POST", "/greylist/release", url.Values{"csrf": {token}, "client": {"192.0.2.9"}, "sender": {"a@b.test"}, "recipient": {"c@d.test"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "done=released") {
		t.Errorf("release: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := wc.do("POST", "/greylist/whitelist", url.Values{"csrf": {token}, "action": {"add"}}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="e-entry"`) {
		t.Errorf("empty whitelist entry: %d", resp.StatusCode)
	}
	resp, _ = wc.do("POST", "/greylist/whitelist", url.Values{"csrf": {token}, "action": {"add"}, "entry": {"partner.test"}})
	if resp.StatusCode != http.StatusSeeOther || len(fake.whitelist) != 1 {
		t.Errorf("whitelist: %d, %v", resp.StatusCode, fake.whitelist)
	}
	if _, page := wc.do("GET", "/greylist", nil); !strings.Contains(page, "partner.test") {
		t.Error("whitelist entry not listed")
	}
}

func TestWebFormErrors(t *testing.T) {
	wc := newWebServer(t, &webFake{})
	wc.login()
	cases := []struct {
		path, field string
	}{
		{"/decisions?since=yesterday", "since"},
		{"/rollout?recipient=", "recipient"},
		{"/rollout?recipient=corp.test&days=0", "days"},
		{"/rollout?recipient=corp.test&min_tls=SSLv3", "min_tls"},
	}
	for _, c := range cases {
		resp, body := wc.do("GET", c.path, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", c.path, resp.StatusCode)
		}
		if !strings.Contains(body, `id="e-`+c.field+`"`) || !strings.Contains(body, `aria-describedby="`) || !strings.Contains(body, `aria-invalid="true"`) {
			t.Errorf("GET %s: the error is not tied to field %s:\n%s", c.path, c.field, body)
		}
	}
}

func TestSessionStore(t *testing.T) {
	now := time.Unix(1e9, 0)
	s := newSessionStore(3, 30*time.Minute, 12*time.Hour)
	s.now = func() time.Time { return now }
	evictions := 0
	s.evicted = func() { evictions++ }
	tick := func(d time.Duration) { now = now.Add(d) }

	a, _, _ := s.create("a")
	tick(time.Minute)
	b, _, _ := s.create("b")
	tick(time.Minute)
	c, _, _ := s.create("c")
	if s.get(a) == nil || s.get(b) == nil || s.get(c) == nil {
		t.Fatal("fresh sessions not found")
	}
	tick(time.Minute)
	s.get(a) // a used last: b is now the idlest
	tick(time.Minute)
	s.get(c)
	d, _, _ := s.create("d")
	if s.len() != 3 || evictions != 1 || s.get(b) != nil || s.get(a) == nil || s.get(d) == nil {
		t.Fatalf("full table: len %d, evictions %d; want the idlest (b) evicted", s.len(), evictions)
	}
	tick(31 * time.Minute) // every session idle too long
	if s.get(a) != nil {
		t.Error("idle session still valid")
	}
	e, _, _ := s.create("e")
	born := now
	for now.Sub(born) < 12*time.Hour-20*time.Minute { // used every 20 minutes: never idle
		tick(20 * time.Minute)
		if s.get(e) == nil {
			t.Fatalf("session in use ended after %v", now.Sub(born))
		}
	}
	tick(21 * time.Minute)
	if s.get(e) != nil {
		t.Errorf("session outlived its maximum age (%v)", now.Sub(born))
	}
	if s.get("") != nil || s.get("nope") != nil {
		t.Error("empty or unknown id found a session")
	}
	if evictions != 1 {
		t.Errorf("evictions = %d: expired sessions must be swept, not evicted", evictions)
	}
}

func TestLocalPath(t *testing.T) {
	cases := map[string]string{
		"":                    "/",
		"/":                   "/",
		"/rules?recipient=a":  "/rules?recipient=a",
		"//evil.example/":     "/",
		"/\\evil.example":     "/",
		"https://evil.test/":  "/",
		"javascript:alert(1)": "/",
		"rules":               "/",
		"/login":              "/",
		"/login?next=/":       "/",
		"/x\r\nSet-Cookie: a": "/",
	}
	for in, want := range cases {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{"2h", now.Add(-2 * time.Hour), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"3d", now.Add(-72 * time.Hour), false},
		{"2026-12-01", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), false},
		{"2026-12-01T10:30", time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC), false},
		{"2026-12-01T10:30:00+01:00", time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC), false},
		{"yesterday", time.Time{}, true},
		{"-2h", time.Time{}, true},
		{"999d", time.Time{}, true},
	}
	for _, c := range cases {
		got, err := parseSince(c.in, now)
		if (err != nil) != c.bad || !got.Equal(c.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v (bad %v)", c.in, got, err, c.want, c.bad)
		}
	}
}

// FuzzLocalPath: whatever a log-in form's "next" holds, the redirect stays
// on this server.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "//x", "/\\x", "http://x", "/rules?a=b", "\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := localPath(s)
		if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
			t.Fatalf("localPath(%q) = %q leaves the server", s, p)
		}
		u, err := url.Parse(p)
		if err == nil && u.Host != "" {
			t.Fatalf("localPath(%q) = %q names host %q", s, p, u.Host)
		}
	})
}

// FuzzParseSince: the decisions search's "since" never panics and never
// lies in the future of now for a duration.
func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"2h", "3d", "2026-12-01", "2026-12-01T10:30", "", "d", "-1d", "9999999999999d"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseSince(s, now)
		if err == nil && strings.HasSuffix(s, "d") && got.After(now) {
			t.Fatalf("parseSince(%q) = %v, after now", s, got)
		}
	})
}

// TestWebMetrics: refusals and evictions are counted in spamgate's
// registry, beside the console's request counter.
func TestWebMetrics(t *testing.T) {
	m := metrics.New()
	c := &Console{o: ConsoleOptions{Metrics: m}, m: newConsoleMetrics(m)}
	ui, err := newWebUI(&webFake{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ui.metrics = newWebMetrics(c, ui.sessions)
	ui.sessions.max = 1
	mux := http.NewServeMux()
	ui.routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	wc := &webClient{t: t, base: srv.URL, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	wc.do("GET", "/rules", nil)                            // no session
	wc.do("POST", "/login", url.Values{"name": {"admin"}}) // no log-in token
	wc.login()
	wc.do("POST", "/logout", url.Values{"csrf": {"forged"}}) // wrong token
	wc.c.Jar, _ = cookiejar.New(nil)
	wc.login() // the table holds one: the first session goes

	got := map[string]float64{}
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			name := f.GetName()
			for _, l := range mt.GetLabel() {
				name += "," + l.GetName() + "=" + l.GetValue()
			}
			got[name] = mt.GetCounter().GetValue() + mt.GetGauge().GetValue()
		}
	}
	for name, want := range map[string]float64{
		"spamgate_admin_web_refusals_total,reason=no_session":            1,
		"spamgate_admin_web_refusals_total,reason=login_csrf":            1,
		"spamgate_admin_web_refusals_total,reason=csrf":                  1,
		"spamgate_admin_web_sessions_evicted_total":                      1,
		"spamgate_admin_web_sessions":                                    1,
		"spamgate_admin_requests_total,endpoint=POST /logout,status=403": 1,
		"spamgate_admin_requests_total,endpoint=GET /rules,status=303":   1,
		"spamgate_admin_requests_total,endpoint=POST /login,status=303":  2,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
}

// TestWebFormTooLarge: a form body is read up to maxFormBytes, no more.
func TestWebFormTooLarge(t *testing.T) {
	wc := newWebServer(t, &webFake{})
	token := wc.login()
	big := url.Values{"csrf": {token}, "recipient": {strings.Repeat("a", maxFormBytes)}}
	if resp, _ := wc.do("POST", "/rules", big); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("form of %d bytes: %d, want 400", len(big.Encode()), resp.StatusCode)
	}
	if resp, _ := wc.do("POST", "/login", big); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("log-in form of %d bytes: %d, want 400", len(big.Encode()), resp.StatusCode)
	}
}

// TestWebCookieSecureOverTLS: served over TLS, the cookies are Secure.
func TestWebCookieSecureOverTLS(t *testing.T) {
	ui, err := newWebUI(&webFake{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ui.routes(mux)
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	c := srv.Client()
	c.Jar, _ = cookiejar.New(nil)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	wc := &webClient{t: t, base: srv.URL, c: c}
	resp, page := wc.do("GET", "/login", nil)
	for _, ck := range resp.Cookies() {
		if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
			t.Errorf("log-in cookie %+v over TLS", ck)
		}
	}
	resp, _ = wc.do("POST", "/login", url.Values{"csrf": {csrfOf(t, page)}, "name": {"admin"}, "password": {"secret"}})
	found := false
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie && ck.Value != "" {
			found = true
			if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" {
				t.Errorf("session cookie %+v over TLS", ck)
			}
		}
	}
	if !found {
		t.Fatalf("no session cookie (status %d)", resp.StatusCode)
	}
}
