package admin

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// loginData is the log-in page's data.
type loginData struct {
	Next string // where to go after the log-in (a local path)
}

// loginPage shows the log-in form with a fresh pre-session CSRF token.
func (ui *webUI) loginPage(w http.ResponseWriter, r *http.Request) {
	ui.showLogin(w, r, http.StatusOK, "", localPath(r.URL.Query().Get("next")))
}

func (ui *webUI) showLogin(w http.ResponseWriter, r *http.Request, status int, errMsg, next string) {
	token, err := randomToken()
	if err != nil {
		ui.log.Error("admin web: login token", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setCookie(w, r, loginCookie, token, 600)
	d := &pageData{Title: "Log in", CSRF: token, Errors: map[string]string{}, Form: url.Values{}, Data: loginData{Next: next}}
	if errMsg != "" {
		d.Errors["password"] = errMsg
		d.Form.Set("name", r.PostFormValue("name"))
	}
	ui.render(w, status, "login.html", d)
}

// loginSubmit checks the name and password with the Console (which rate
// limits failures per client and logs them without the password) and
// starts a session.
func (ui *webUI) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if err := ui.parseForm(w, r); err != nil {
		ui.refuse(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	c, err := r.Cookie(loginCookie)
	field := r.PostFormValue("csrf")
	if err != nil || field == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(field)) != 1 {
		ui.log.Warn("admin web: log-in form without a valid CSRF token refused", "client", clientIP(r))
		ui.metrics.refused("login_csrf")
		ui.refuse(w, r, http.StatusForbidden, "The form was refused: its security token is missing or wrong. Reload the log-in page and try again.")
		return
	}
	next := localPath(r.PostFormValue("next"))
	name := r.PostFormValue("name")
	if err := ui.console.CheckPassword(r.Context(), name, r.PostFormValue("password"), clientIP(r)); err != nil {
		ui.log.Info("admin web: log-in refused", "user", name, "client", clientIP(r), "err", err)
		if errors.Is(err, ErrRateLimited) {
			ui.showLogin(w, r, http.StatusTooManyRequests, "Too many failed log-ins from this address: wait a minute and try again.", next)
			return
		}
		ui.showLogin(w, r, http.StatusUnauthorized, "Wrong name or password.", next)
		return
	}
	id, _, err := ui.sessions.create(name)
	if err != nil {
		ui.log.Error("admin web: new session", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	ui.log.Info("admin web: logged in", "user", name, "client", clientIP(r))
	setCookie(w, r, loginCookie, "", -1)
	setCookie(w, r, sessionCookie, id, 0)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session.
func (ui *webUI) logout(w http.ResponseWriter, r *http.Request, sess *session) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		ui.sessions.delete(c.Value)
	}
	ui.log.Info("admin web: logged out", "user", sess.user, "client", clientIP(r))
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// localPath keeps a post-log-in target only when it is a path on this
// server ("/rules?x=y"): never another host ("//evil", "https://…"),
// which would make the log-in page an open redirect.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
		return "/"
	}
	if p == "/login" || strings.HasPrefix(p, "/login?") {
		return "/"
	}
	return p
}
