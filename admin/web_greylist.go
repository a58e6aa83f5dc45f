package admin

import (
	"net/http"
	"net/url"
	"strings"

	"spamgate/greylist"
)

// greylistView is the greylist page's data.
type greylistView struct {
	Status    *GreylistView // the triplet asked about; nil: none asked
	Whitelist []greylist.WhitelistEntry
	ListError string // the whitelist could not be read
}

// greylistPage shows a triplet's state (as `spamgate greylist status`),
// the whitelist, and the forms that release a triplet and change the
// whitelist.
func (ui *webUI) greylistPage(w http.ResponseWriter, r *http.Request, sess *session) {
	d := newPage("Greylist", "greylist", r, sess)
	_ = r.ParseForm()
	d.Form = r.Form
	ui.showGreylist(w, r, d, http.StatusOK)
}

func (ui *webUI) showGreylist(w http.ResponseWriter, r *http.Request, d *pageData, status int) {
	c := ui.console
	v := greylistView{}
	q := r.URL.Query()
	if q.Has("client") || q.Has("sender") || q.Has("recipient") {
		st, err := c.GreylistStatus(r.Context(), strings.TrimSpace(q.Get("client")), strings.TrimSpace(q.Get("sender")), strings.TrimSpace(q.Get("recipient")))
		if err != nil {
			d.Error = "status: " + err.Error()
			status = statusOf(err)
		} else {
			v.Status = &st
		}
	}
	list, err := c.GreylistWhitelistEntries(r.Context())
	if err != nil {
		v.ListError = err.Error()
		if status == http.StatusOK {
			status = statusOf(err)
		}
	}
	v.Whitelist = list
	d.Data = v
	ui.render(w, status, "greylist.html", d)
}

// greylistRelease lets a triplet's next retry pass.
func (ui *webUI) greylistRelease(w http.ResponseWriter, r *http.Request, sess *session) {
	d := newPage("Greylist", "greylist", r, sess)
	c := ui.console
	f := r.PostForm
	client, sender, rcpt := strings.TrimSpace(f.Get("client")), strings.TrimSpace(f.Get("sender")), strings.TrimSpace(f.Get("recipient"))
	back := "/greylist?" + url.Values{"client": {client}, "sender": {sender}, "recipient": {rcpt}}.Encode()
	if err := c.GreylistRelease(r.Context(), sess.user, client, sender, rcpt); err != nil {
		ui.log.Info("admin web: greylist release refused", "user", sess.user, "err", err)
		d.Error = "not released: " + err.Error()
		r.URL.RawQuery = ""
		d.Form = f
		ui.showGreylist(w, r, d, statusOf(err))
		return
	}
	redirectDone(w, r, back, "released")
}

// greylistWhitelist adds (action=add) or removes (action=remove) a
// whitelist entry: a client network or a sender domain.
func (ui *webUI) greylistWhitelist(w http.ResponseWriter, r *http.Request, sess *session) {
	d := newPage("Greylist", "greylist", r, sess)
	c := ui.console
	entry := strings.TrimSpace(r.PostForm.Get("entry"))
	add := r.PostForm.Get("action") != "remove"
	if entry == "" {
		d.Errors["entry"] = "a network (192.0.2.0/24 or one address) or a sender domain is required"
	} else if err := c.GreylistWhitelist(r.Context(), sess.user, entry, add); err != nil {
		ui.log.Info("admin web: greylist whitelist change refused", "user", sess.user, "err", err)
		d.Errors["entry"] = err.Error()
	} else if add {
		redirectDone(w, r, "/greylist", "whitelisted")
		return
	} else {
		redirectDone(w, r, "/greylist", "unwhitelisted")
		return
	}
	d.Error = "the whitelist was not changed"
	d.Form = r.PostForm
	r.URL.RawQuery = ""
	ui.showGreylist(w, r, d, http.StatusBadRequest)
}
