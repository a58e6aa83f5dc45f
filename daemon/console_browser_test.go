package daemon

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"spamgate/internal/browsertest"
	"spamgate/internal/miltertest"
)

// The admin console's web UI in a real headless chromium, against the
// real daemon: its milter, its decision history and its console server
// ([admin] listen). The screenshots of every page are kept under
// artifacts/ (or $SPAMGATE_ARTIFACTS) as the test's artefacts.

const consoleUser, consolePass = "admin", "correct horse battery"

// consoleRig is a daemon with the admin console on.
type consoleRig struct {
	*rig
	url string // the console's base URL
}

// startConsoleRig starts the daemon with the console on; extra is more
// TOML (rules) after the [admin] table.
func startConsoleRig(t *testing.T, extra string) *consoleRig {
	t.Helper()
	dir := t.TempDir()
	// The users file as `spamgate admin passwd` writes it, but hashed at
	// bcrypt's lowest cost: cost 12 takes seconds per log-in under -race
	// on a loaded 2-core machine, and the cost is part of the hash.
	hash, err := bcrypt.GenerateFromPassword([]byte(consolePass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte(consoleUser+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	adminTOML := fmt.Sprintf(`
[admin]
listen = "inet:127.0.0.1:0"
users_file = %q
rules_file = %q
history_dir = %q
`, users, filepath.Join(dir, "admin-rules.toml"), filepath.Join(dir, "history"))
	r := startRig(t, adminTOML+extra)
	addr := r.d.AdminAddr()
	if addr == nil {
		t.Fatal("the daemon serves no admin console")
	}
	return &consoleRig{rig: r, url: "http://" + addr.String()}
}

// cleartextTx is a transaction without TLS from a sender that exists.
func cleartextTx(rcpt string) miltertest.Tx {
	return miltertest.Tx{ClientIP: "192.0.2.10", Helo: "mx.good.test", From: "user@good.test", Rcpts: []string{rcpt}}
}

// login fills the log-in form.
func login(b *browsertest.Browser, base, user, pass string) {
	b.Do(
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("f-name")),
		chromedp.SendKeys(chromedp.ID("f-name"), user),
		chromedp.SendKeys(chromedp.ID("f-password"), pass),
	)
	b.Load(chromedp.Submit(chromedp.CSS("form.login")))
}

// a11yProblems lists what the page lacks for keyboard and screen-reader
// users: a label for every field, lang, one h1 and no skipped heading
// level, a scope on every table header, the skip link first.
const a11yProblems = `(() => {
	const p = [];
	if (document.documentElement.lang !== "en") p.push("no lang=en");
	for (const e of document.querySelectorAll("input:not([type=hidden]), select, textarea"))
		if (e.labels.length === 0 && !e.getAttribute("aria-label")) p.push("unlabelled field " + e.name);
	if (document.querySelectorAll("h1").length !== 1) p.push("not one h1");
	let level = 0;
	for (const h of document.querySelectorAll("h1, h2, h3, h4")) {
		const l = +h.tagName[1];
		if (l > level + 1) p.push("heading " + h.tagName + " after h" + level);
		level = l;
	}
	for (const th of document.querySelectorAll("th")) if (!th.getAttribute("scope")) p.push("th without scope: " + th.textContent);
	for (const id of document.querySelectorAll("[aria-describedby]"))
		for (const ref of id.getAttribute("aria-describedby").split(" "))
			if (!document.getElementById(ref)) p.push("aria-describedby names no element: " + ref);
	const first = document.querySelector("a, button, input, select, textarea");
	if (!first || first.className !== "skip") p.push("the skip link is not first");
	return p;
})()`

// shot keeps a screenshot of the page and checks it for a11yProblems.
func shot(t *testing.T, b *browsertest.Browser, name string) {
	t.Helper()
	b.Screenshot(name)
	if p := browsertest.Run(b, chromedp.Evaluate[[]string](a11yProblems)); len(p) > 0 {
		t.Errorf("page %s: %q", name, p)
	}
}

// pageText is the text of the page's main element.
func pageText(b *browsertest.Browser) string {
	return browsertest.Run(b, chromedp.Text(chromedp.ID("main")))
}

// waitText reloads path until main's text holds want (the history is
// written behind the milter's back, batched), within a bound.
func waitText(t *testing.T, b *browsertest.Browser, pageURL, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.Do(chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.ID("main")))
		text := pageText(b)
		if strings.Contains(text, want) {
			return text
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %q; last:\n%s", pageURL, want, text)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

func TestConsoleBrowser(t *testing.T) {
	cr := startConsoleRig(t, "")
	b := browsertest.Start(t)
	const alice = "alice@corp.test"

	// Not logged in: every page leads to the log-in page.
	b.Do(chromedp.Navigate(cr.url+"/rules"), chromedp.WaitVisible(chromedp.ID("f-name")))
	if loc := b.Location(); !strings.Contains(loc, "/login?next=") {
		t.Fatalf("without a session /rules showed %s", loc)
	}
	shot(t, b, "01-login")

	// A wrong password is refused, with the error tied to the field.
	login(b, cr.url, consoleUser, "wrong password")
	if text := pageText(b); !strings.Contains(text, "Wrong name or password") {
		t.Fatalf("wrong password: page says %q", text)
	}
	if described := browsertest.Run(b, chromedp.AttributeValue(chromedp.ID("f-password"), "aria-describedby")); !strings.Contains(described.Value, "e-password") {
		t.Errorf("the log-in error is not tied to the password field: %+v", described)
	}
	shot(t, b, "02-login-refused")

	login(b, cr.url, consoleUser, consolePass)
	if title := browsertest.Run(b, chromedp.Title()); !strings.HasPrefix(title, "Dashboard") {
		t.Fatalf("after log-in: page %q", title)
	}
	shot(t, b, "03-dashboard")

	// Keyboard: the first Tab reaches the skip link, which shows itself.
	b.Do(chromedp.KeyEvent("\t"))
	if cls := browsertest.Run(b, chromedp.Evaluate[string](`document.activeElement.className`)); cls != "skip" {
		t.Errorf("the first Tab focuses %q, want the skip link", cls)
	}
	if left := browsertest.Run(b, chromedp.Evaluate[float64](`document.activeElement.getBoundingClientRect().left`)); left < 0 {
		t.Errorf("the focused skip link is off screen (left %v)", left)
	}

	// Add the require_tls rule for alice in the admin source.
	b.Do(
		chromedp.Navigate(cr.url+"/rules"),
		chromedp.WaitVisible(chromedp.ID("f-recipient")),
		chromedp.SendKeys(chromedp.ID("f-recipient"), alice),
		chromedp.SetValue(chromedp.ID("f-require_tls"), "true"),
	)
	b.Load(chromedp.Submit(chromedp.CSS("form.rule")))
	if text := pageText(b); !strings.Contains(text, "Rule added.") || !strings.Contains(text, alice) {
		t.Fatalf("after adding the rule: %q", text)
	}
	shot(t, b, "04-rules")
	b.Load(chromedp.Click(chromedp.CSS(`a[aria-label="Edit the rule for ` + alice + `"]`)))
	if v := browsertest.Run(b, chromedp.Value(chromedp.ID("f-require_tls"))); v != "true" {
		t.Errorf("edit form: require_tls = %q, want the rule's true", v)
	}
	shot(t, b, "04b-rule-edit")

	// The next cleartext transaction is refused, without a reload.
	res := cr.run(t, cleartextTx(alice))
	if got := res.Refused(alice); !strings.HasPrefix(got, "550 5.7.10 ") {
		t.Fatalf("cleartext to %s with the rule on: %q, want 550 5.7.10", alice, got)
	}

	// The decisions page shows the refusal.
	text := waitText(t, b, cr.url+"/decisions?recipient="+url.QueryEscape(alice), "550 5.7.10")
	if !strings.Contains(text, "user@good.test") || !strings.Contains(text, "cleartext") {
		t.Errorf("decisions page lacks the sender or the TLS state:\n%s", text)
	}
	shot(t, b, "05-decisions")

	// The dashboard counts the refusal by its check, and the cleartext
	// transaction.
	b.Do(chromedp.Navigate(cr.url+"/"), chromedp.WaitVisible(chromedp.ID("h-refusals")))
	if text := pageText(b); !strings.Contains(text, "tls") || !strings.Contains(text, "cleartext") {
		t.Errorf("dashboard after the refusal:\n%s", text)
	}
	shot(t, b, "05b-dashboard")

	// The rollout advisor lists the cleartext sender.
	b.Do(
		chromedp.Navigate(cr.url+"/rollout"),
		chromedp.WaitVisible(chromedp.ID("f-recipient")),
		chromedp.SendKeys(chromedp.ID("f-recipient"), "corp.test"),
	)
	b.Load(chromedp.Submit(chromedp.CSS("form.search")))
	if text := pageText(b); !strings.Contains(text, "good.test") || !strings.Contains(text, "192.0.2.10") {
		t.Errorf("rollout advisor does not list the cleartext sender:\n%s", text)
	}
	shot(t, b, "06-rollout")

	// Lookup: the admin rule applies.
	b.Do(chromedp.Navigate(cr.url+"/lookup?recipient="+url.QueryEscape(alice)), chromedp.WaitVisible(chromedp.ID("h-result")))
	if text := pageText(b); !strings.Contains(text, "admin:") {
		t.Errorf("lookup does not name the admin rule:\n%s", text)
	}
	shot(t, b, "07-lookup")

	// A form whose CSRF token was removed is refused (403), and changes
	// nothing.
	b.Do(
		chromedp.Navigate(cr.url+"/rules"),
		chromedp.WaitVisible(chromedp.ID("f-recipient")),
		chromedp.SendKeys(chromedp.ID("f-recipient"), "mallory@corp.test"),
		chromedp.SetAttributeValue(chromedp.CSS(`form.rule input[name="csrf"]`), "value", ""),
	)
	resp, err := chromedp.RunResponse(b.Context(), chromedp.Submit(chromedp.CSS("form.rule")))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusForbidden {
		t.Errorf("form without its CSRF token: status %d, want 403", resp.Status)
	}
	shot(t, b, "08-csrf-refused")
	b.Do(chromedp.Navigate(cr.url+"/rules"), chromedp.WaitVisible(chromedp.ID("h-rules")))
	if text := pageText(b); strings.Contains(text, "mallory@corp.test") {
		t.Error("the form without a CSRF token added its rule")
	}

	// Delete the rule: the next transaction passes.
	b.Load(chromedp.Click(chromedp.CSS(`button[aria-label="Delete the rule for ` + alice + `"]`)))
	if text := pageText(b); !strings.Contains(text, "Rule deleted.") {
		t.Fatalf("after delete: %q", text)
	}
	if got := cr.run(t, cleartextTx(alice)).Refused(alice); got != "" {
		t.Errorf("after the rule was deleted: %q, want accepted", got)
	}

	// Greylist: a triplet's status, and a whitelist entry added.
	b.Do(
		chromedp.Navigate(cr.url+"/greylist"),
		chromedp.WaitVisible(chromedp.ID("f-client")),
		chromedp.SendKeys(chromedp.ID("f-client"), "192.0.2.10"),
		chromedp.SendKeys(chromedp.ID("f-sender"), "user@good.test"),
		chromedp.SendKeys(chromedp.ID("f-recipient"), alice),
	)
	b.Load(chromedp.Submit(chromedp.CSS("form.search")))
	if text := pageText(b); !strings.Contains(text, "Client suspicious") {
		t.Errorf("greylist status:\n%s", text)
	}
	shot(t, b, "10a-greylist-status")
	b.Do(chromedp.SendKeys(chromedp.ID("f-entry"), "partner.test"))
	b.Load(chromedp.Submit(chromedp.CSS(`form[aria-label="Add to the whitelist"]`)))
	if text := pageText(b); !strings.Contains(text, "Whitelist entry added.") || !strings.Contains(text, "partner.test") {
		t.Errorf("greylist whitelist:\n%s", text)
	}
	shot(t, b, "10b-greylist-whitelist")

	// The audit log has every change, by the user who made it.
	b.Do(chromedp.Navigate(cr.url+"/audit"), chromedp.WaitVisible(chromedp.ID("main")))
	if text := pageText(b); !strings.Contains(text, "rule.add") || !strings.Contains(text, "rule.delete") || !strings.Contains(text, "greylist.whitelist") || !strings.Contains(text, consoleUser) {
		t.Errorf("audit page:\n%s", text)
	}
	shot(t, b, "11-audit")

	if d := b.Dialogs(); len(d) != 0 {
		t.Errorf("pages opened dialogs: %q", d)
	}
}

// TestConsoleBrowserStoredXSS: values an SMTP client chose (HELO, sender,
// recipient, and the replies that quote them) are shown as text on the
// decisions page: chromium runs none of them, and the HTML source has
// them escaped. A rule refuses the recipient, so that the stored reply
// quotes the hostile address too.
func TestConsoleBrowserStoredXSS(t *testing.T) {
	cr := startConsoleRig(t, "[[policy.rule]]\nrecipient = \"corp.test\"\nrequire_tls = true\n")
	const (
		helo   = `<script>alert("helo")</script>`
		sender = `x"><img src=x onerror=alert('from')>@good.test`
		rcpt   = `x"><svg/onload=alert(3)>@corp.test`
	)
	tx := miltertest.Tx{ClientIP: "192.0.2.11", Helo: helo, From: sender, Rcpts: []string{rcpt}}
	if got := cr.run(t, tx).Refused(rcpt); !strings.Contains(got, "<"+rcpt+">") {
		t.Fatalf("the refusal does not quote the recipient: %q", got)
	}

	b := browsertest.Start(t)
	login(b, cr.url, consoleUser, consolePass)
	text := waitText(t, b, cr.url+"/decisions?client=192.0.2.11", helo)
	for _, v := range []string{sender, rcpt, "550 5.7.10 Encryption needed: <" + rcpt + ">"} {
		if !strings.Contains(text, v) {
			t.Errorf("the decisions page does not show %q as text:\n%s", v, text)
		}
	}
	time.Sleep(300 * time.Millisecond) // room for a script that would fire late
	shot(t, b, "decisions-hostile")
	if d := b.Dialogs(); len(d) != 0 {
		t.Fatalf("the decisions page ran attacker script: dialogs %q", d)
	}
	if got := browsertest.Run(b, chromedp.Text(chromedp.CSS("td.helo"))); got != helo {
		t.Errorf("HELO cell shows %q, want the text %q", got, helo)
	}
	injected := browsertest.Run(b, chromedp.Evaluate[int](`document.querySelectorAll("main script, main img, main svg, [onerror], [onload]").length`))
	if injected != 0 {
		t.Errorf("%d elements from the data made it into the DOM", injected)
	}

	// The HTML source itself, as served to a logged-in client.
	src := consoleGET(t, cr.url, "/decisions?client=192.0.2.11")
	for _, raw := range []string{helo, sender, rcpt, "<img", "<svg"} {
		if strings.Contains(src, raw) {
			t.Errorf("the page source holds %q unescaped", raw)
		}
	}
	if !strings.Contains(src, "&lt;script&gt;alert(&#34;helo&#34;)&lt;/script&gt;") {
		t.Errorf("the page source lacks the escaped HELO")
	}
}

var csrfValue = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// consoleLogin logs c in through the log-in form.
func consoleLogin(t *testing.T, c *http.Client, base string) {
	t.Helper()
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfValue.FindStringSubmatch(string(page))
	if m == nil {
		t.Fatal("no csrf token on the log-in page")
	}
	resp, err = c.PostForm(base+"/login", url.Values{"csrf": {m[1]}, "name": {consoleUser}, "password": {consolePass}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("log-in: %d", resp.StatusCode)
	}
}

// consoleGET logs in with a plain HTTP client and returns a page's source.
func consoleGET(t *testing.T, base, path string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	consoleLogin(t, c, base)
	resp, err := c.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestConsoleWebAuth: the web UI of the real daemon, over plain HTTP:
// every page without a session (or with a forged cookie) leads to the
// log-in page, every form target answers 401 without a session and 403
// without its CSRF token, a wrong password gets no session.
func TestConsoleWebAuth(t *testing.T) {
	cr := startConsoleRig(t, "")
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	pages := []string{"/", "/rules", "/rules/x", "/lookup?recipient=a@b.test", "/decisions", "/rollout?recipient=corp.test", "/greylist", "/audit"}
	forms := []string{"/logout", "/rules", "/rules/x", "/rules/x/delete", "/greylist/release", "/greylist/whitelist"}
	u, _ := url.Parse(cr.url)
	for _, cookie := range []string{"", "forged", strings.Repeat("A", 43)} {
		jar, _ := cookiejar.New(nil)
		if cookie != "" {
			jar.SetCookies(u, []*http.Cookie{{Name: "spamgate_session", Value: cookie}})
		}
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: noRedirect}
		for _, p := range pages {
			resp, err := c.Get(cr.url + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
				t.Errorf("GET %s, cookie %q: %d %q, want 303 to /login", p, cookie, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		for _, p := range forms {
			resp, err := c.PostForm(cr.url+p, url.Values{"csrf": {"x"}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("POST %s, cookie %q: %d, want 401", p, cookie, resp.StatusCode)
			}
		}
	}

	// A wrong password: 401 and no session cookie.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: noRedirect}
	resp, err := c.Get(cr.url + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfValue.FindStringSubmatch(string(page))
	if m == nil {
		t.Fatal("no csrf token on the log-in page")
	}
	resp, err = c.PostForm(cr.url+"/login", url.Values{"csrf": {m[1]}, "name": {consoleUser}, "password": {"wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", resp.StatusCode)
	}
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "spamgate_session" {
			t.Errorf("wrong password: got a session cookie")
		}
	}

	// Logged in: every form target refuses a POST without the token.
	c.Jar, _ = cookiejar.New(nil)
	consoleLogin(t, c, cr.url)
	for _, p := range forms {
		resp, err := c.PostForm(cr.url+p, url.Values{"entry": {"x.test"}, "recipient": {"x@corp.test"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s without CSRF token: %d, want 403", p, resp.StatusCode)
		}
	}
}
