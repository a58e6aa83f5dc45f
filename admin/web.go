package admin

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The web UI: server-rendered pages over the same Console as the JSON API.
//
// Every value on a page goes through html/template, which escapes it for
// the context it lands in (HELO names, addresses and replies come from
// SMTP clients and may be hostile); no page builds HTML by concatenation
// and none wraps data in template.HTML. Pages work without JavaScript and
// the Content-Security-Policy allows no script at all.

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*
var staticFS embed.FS

const (
	sessionCookie = "spamgate_session"
	// loginCookie carries the log-in form's CSRF token before there is a
	// session (double submit: the cookie and the hidden field must agree).
	loginCookie = "spamgate_login"
	// maxFormBytes bounds a form's body; the largest form (a rule) is far
	// smaller.
	maxFormBytes = 64 << 10
)

// setSecurityHeaders sets what every response of the web UI carries. The
// policy allows only same-origin styles and images and no script, frames
// or plugins; forms may post only to this origin.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// webUI holds the web UI's state: the session table and the parsed pages.
type webUI struct {
	console  webConsole // the Console (web_backend.go)
	log      *slog.Logger
	sessions *sessionStore
	pages    map[string]*template.Template
	static   fs.FS
	metrics  *webMetrics // nil: none
}

// webRoutes registers the web UI's pages.
func (s *Server) webRoutes(mux *http.ServeMux) {
	ui, err := newWebUI(s.console, s.log)
	if err != nil {
		// The templates are embedded and parsed by the tests: this is a
		// build error, not a run-time condition.
		panic(err)
	}
	ui.metrics = newWebMetrics(s.console, ui.sessions)
	ui.routes(mux)
}

func newWebUI(console webConsole, log *slog.Logger) (*webUI, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("web ui static files: %w", err)
	}
	ui := &webUI{console: console, log: log, pages: pages, static: static,
		sessions: newSessionStore(maxSessions, sessionIdle, sessionMaxAge)}
	ui.sessions.evicted = func() {
		log.Warn("admin web: session table full, evicted the idlest session", "max", maxSessions)
		ui.metrics.sessionEvicted()
	}
	return ui, nil
}

// routes registers every page. Pages behind auth take the session; POST
// handlers run only after the CSRF check.
func (ui *webUI) routes(mux *http.ServeMux) {
	h := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, ui.headers(f)) }
	h("GET /login", ui.loginPage)
	h("POST /login", ui.loginSubmit)
	h("POST /logout", ui.post(ui.logout))
	h("GET /static/style.css", func(w http.ResponseWriter, r *http.Request) { http.ServeFileFS(w, r, ui.static, "style.css") })
	h("/", ui.notFound)
	h("GET /{$}", ui.get(ui.dashboardPage))
	h("GET /rules", ui.get(ui.rulesPage))
	h("POST /rules", ui.post(ui.ruleAdd))
	h("GET /rules/{id}", ui.get(ui.ruleEditPage))
	h("POST /rules/{id}", ui.post(ui.ruleUpdate))
	h("POST /rules/{id}/delete", ui.post(ui.ruleDelete))
	h("GET /lookup", ui.get(ui.lookupPage))
	h("GET /decisions", ui.get(ui.decisionsPage))
	h("GET /rollout", ui.get(ui.rolloutPage))
	h("GET /greylist", ui.get(ui.greylistPage))
	h("POST /greylist/release", ui.post(ui.greylistRelease))
	h("POST /greylist/whitelist", ui.post(ui.greylistWhitelist))
	h("GET /audit", ui.get(ui.auditPage))
}

// notFound answers every other path (with the security headers, which
// the mux's own 404 would lack).
func (ui *webUI) notFound(w http.ResponseWriter, r *http.Request) {
	ui.refuse(w, r, http.StatusNotFound, "There is no such page.")
}

// headers sets the security headers before the handler writes anything.
func (ui *webUI) headers(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		sw := &statusWriter{ResponseWriter: w}
		next(sw, r)
		ui.metrics.request(r, sw.code())
	})
}

// pageHandler serves a page for a logged-in user.
type pageHandler func(w http.ResponseWriter, r *http.Request, sess *session)

// get wraps a page that needs a session: without one the browser goes to
// the log-in page, which comes back here afterwards.
func (ui *webUI) get(next pageHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := ui.session(r)
		if sess == nil {
			ui.metrics.refused("no_session")
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		next(w, r, sess)
	}
}

// post wraps a form's target: a session is needed (401 without one) and
// the form must carry the session's CSRF token (403 without it).
func (ui *webUI) post(next pageHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := ui.session(r)
		if sess == nil {
			ui.metrics.refused("no_session")
			ui.refuse(w, r, http.StatusUnauthorized, "Your session has ended. Log in again.")
			return
		}
		if err := ui.parseForm(w, r); err != nil {
			ui.refuse(w, r, http.StatusBadRequest, "The form could not be read.")
			return
		}
		if !sess.validCSRF(r.PostFormValue("csrf")) {
			ui.metrics.refused("csrf")
			ui.log.Warn("admin web: form without a valid CSRF token refused", "user", sess.user, "path", r.URL.Path, "client", clientIP(r))
			ui.refuse(w, r, http.StatusForbidden, "The form was refused: its security token is missing or wrong. Reload the page and try again.")
			return
		}
		next(w, r, sess)
	}
}

// parseForm reads a bounded form body.
func (ui *webUI) parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("parse form: %w", err)
	}
	return nil
}

// session returns the request's live session, or nil.
func (ui *webUI) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	return ui.sessions.get(c.Value)
}

// setCookie sets a cookie with the attributes every cookie of the UI has.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// clientIP is the address the request came from, for rate limits and logs.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// pageData is what every page's template gets.
type pageData struct {
	Title  string
	Nav    string // the menu entry to mark as current
	User   string
	CSRF   string
	Flash  string            // a success message ("Rule added.")
	Error  string            // a message about the whole page
	Errors map[string]string // messages tied to form fields, by field name
	Form   url.Values        // the submitted form or query, to fill the fields again
	Data   any
}

// newPage starts a page's data for the session.
func newPage(title, nav string, r *http.Request, sess *session) *pageData {
	return &pageData{Title: title, Nav: nav, User: sess.user, CSRF: sess.csrf,
		Errors: map[string]string{}, Form: r.Form, Flash: flashFrom(r)}
}

// flashFrom turns the ?done= marker that a redirect after a POST carries
// into a fixed message: the query never carries text of its own.
func flashFrom(r *http.Request) string {
	switch r.URL.Query().Get("done") {
	case "added":
		return "Rule added."
	case "updated":
		return "Rule updated."
	case "deleted":
		return "Rule deleted."
	case "released":
		return "Greylist entry released."
	case "whitelisted":
		return "Whitelist entry added."
	case "unwhitelisted":
		return "Whitelist entry removed."
	}
	return ""
}

// render executes a page into a buffer first, so that a template error
// becomes a clean 500 instead of half a page.
func (ui *webUI) render(w http.ResponseWriter, status int, page string, data *pageData) {
	t := ui.pages[page]
	if t == nil {
		ui.log.Error("admin web: no such page template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		ui.log.Error("admin web: render page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// refuse answers with a short error page (no session data on it).
func (ui *webUI) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	ui.render(w, status, "error.html", &pageData{Title: http.StatusText(status), Error: msg})
}

// failed shows a Console error on the page instead of its result. The
// Console's errors are meant for admins (a rule's validation message);
// html/template escapes them like any other value.
func (ui *webUI) failed(w http.ResponseWriter, status int, page string, data *pageData, what string, err error) {
	ui.log.Warn("admin web: "+what, "user", data.User, "err", err)
	data.Error = what + ": " + err.Error()
	ui.render(w, status, page, data)
}

// redirectDone sends the browser to path after a successful POST (the
// post/redirect/get pattern: a reload does not post twice).
func redirectDone(w http.ResponseWriter, r *http.Request, path, done string) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	http.Redirect(w, r, path+sep+"done="+url.QueryEscape(done), http.StatusSeeOther)
}

// templateFuncs are the helpers the page templates use; each returns
// plain strings that html/template then escapes.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"ts": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"tls": func(v string) string {
			if v == "" {
				return "cleartext"
			}
			return v
		},
		"score": func(p *float64) string {
			if p == nil {
				return ""
			}
			return fmt.Sprintf("%.1f", *p)
		},
		"field": func(d *pageData, name string) string { return d.Form.Get(name) },
		"fld":   newFieldView,
		"rfld":  newRuleField,
		"ruleForm": func(d *pageData, keys []ruleKey) any {
			return struct {
				Page *pageData
				Keys []ruleKey
			}{d, keys}
		},
		"nav":         newNavItem,
		"tlsVersions": func() []string { return []string{"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"} },
	}
}

// fieldView is one labelled form field for the "text" template.
type fieldView struct {
	Name, Label, Type, Value, Hint, Error string
	Required                              bool
	Described                             string // ids for aria-describedby: the hint, the error
}

func newFieldView(d *pageData, name, label, typ string, required bool, hint string) fieldView {
	f := fieldView{Name: name, Label: label, Type: typ, Required: required, Hint: hint, Error: d.Errors[name]}
	if typ != "password" {
		f.Value = d.Form.Get(name)
	}
	var ids []string
	if hint != "" {
		ids = append(ids, "h-"+name)
	}
	if f.Error != "" {
		ids = append(ids, "e-"+name)
	}
	f.Described = strings.Join(ids, " ")
	return f
}

// ruleField is one rule key's field: a text input or a select.
type ruleField struct {
	fieldView
	Select  bool
	Choices []string // for a select, after the empty "(not set)" option
}

func newRuleField(d *pageData, k ruleKey) ruleField {
	f := ruleField{fieldView: newFieldView(d, k.Name, k.Label, "text", k.Name == "recipient", k.Hint)}
	switch k.Kind {
	case kindBool:
		f.Select, f.Choices = true, []string{"true", "false"}
	case kindChoice:
		f.Select, f.Choices = true, k.Choices
	case kindInt, kindFloat:
		// "text", not "number": the Console's check-config words are the
		// one judge of a value, not the browser's own checks.
		f.Type = "text"
	}
	return f
}

// navItem is one entry of the main menu.
type navItem struct {
	Href, Label string
	Current     bool
}

func newNavItem(d *pageData, key, href, label string) navItem {
	return navItem{Href: href, Label: label, Current: d.Nav == key}
}

// parsePages parses each page with the layout, one template set per page
// so that their "content" blocks do not collide.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web ui templates: %w", err)
	}
	base, err := template.New("").Funcs(templateFuncs()).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web ui layout: %w", err)
	}
	pages := make(map[string]*template.Template)
	for _, name := range names {
		page := strings.TrimPrefix(name, "templates/")
		if page == "layout.html" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, name)
		if err != nil {
			return nil, fmt.Errorf("web ui page %s: %w", page, err)
		}
		pages[page] = t
	}
	if len(pages) == 0 {
		return nil, errors.New("web ui: no page templates embedded")
	}
	return pages, nil
}
