package admin

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// ruleKind is how a rule key's form field is read.
type ruleKind int

const (
	kindText ruleKind = iota
	kindBool          // a select: (unset), true, false
	kindInt
	kindFloat
	kindChoice // a select of fixed strings, "" = unset
)

// ruleKey is one key of [[policy.rule]] as the rule form shows it.
type ruleKey struct {
	Name, Label, Hint string
	Kind              ruleKind
	Choices           []string
	Group             string
}

// ruleKeys are the rule form's fields, in the order shown, grouped into
// fieldsets. The Console validates the values with check-config's code;
// the form only turns text into the key's type.
func ruleKeys() []ruleKey {
	return []ruleKey{
		{Name: "recipient", Label: "Recipient", Group: "Which mail", Hint: "user@example.org, example.org, .example.org (subdomains) or * (every recipient)"},
		{Name: "sender", Label: "Sender (optional)", Group: "Which mail", Hint: "only mail from this sender or domain"},
		{Name: "client_network", Label: "Client network (optional)", Group: "Which mail", Hint: "only mail from this network, e.g. 192.0.2.0/24"},
		{Name: "require_tls", Label: "Require TLS", Group: "TLS", Kind: kindBool},
		{Name: "min_tls_version", Label: "Minimum TLS version", Group: "TLS", Kind: kindChoice, Choices: []string{"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}},
		{Name: "min_cipher_bits", Label: "Minimum cipher bits", Group: "TLS", Kind: kindInt},
		{Name: "tls_reply", Label: "Reply to a refusal", Group: "TLS", Kind: kindChoice, Choices: []string{"550", "450"}, Hint: "450 for a soft roll-out: the sender retries"},
		{Name: "reply_text", Label: "Reply text", Group: "TLS", Hint: "replaces the text of a TLS refusal; the code and 5.7.10 stay"},
		{Name: "outbound_tls", Label: "Outbound TLS policy", Group: "TLS", Hint: "Postfix TLS policy for this domain as next hop; empty: derived"},
		{Name: "skip", Label: "Skip spam checks", Group: "Checks", Kind: kindBool},
		{Name: "greylist", Label: "Greylisting", Group: "Checks", Kind: kindChoice, Choices: []string{"suspicious", "always", "never"}},
		{Name: "dnsbl_threshold", Label: "DNSBL threshold", Group: "Checks", Kind: kindFloat},
		{Name: "spf_reject_fail", Label: "Reject SPF fail", Group: "Checks", Kind: kindBool},
		{Name: "dmarc_enforce", Label: "Enforce DMARC", Group: "Checks", Kind: kindBool},
		{Name: "tag_level", Label: "Spam tag level", Group: "Checks", Kind: kindFloat},
		{Name: "kill_level", Label: "Spam kill level", Group: "Checks", Kind: kindFloat},
	}
}

// ruleFormKeys reads a rule form into the keys the Console takes; a value
// that is not of its key's type is a field error.
func ruleFormKeys(form url.Values, errs map[string]string) map[string]any {
	keys := map[string]any{}
	for _, k := range ruleKeys() {
		v := strings.TrimSpace(form.Get(k.Name))
		if v == "" {
			continue
		}
		switch k.Kind {
		case kindBool:
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs[k.Name] = "choose true or false"
				continue
			}
			keys[k.Name] = b
		case kindInt:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				errs[k.Name] = "not a whole number"
				continue
			}
			keys[k.Name] = n
		case kindFloat:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				errs[k.Name] = "not a number"
				continue
			}
			keys[k.Name] = f
		case kindChoice:
			if !slices.Contains(k.Choices, v) {
				errs[k.Name] = "not one of " + strings.Join(k.Choices, ", ")
				continue
			}
			if k.Name == "tls_reply" {
				n, _ := strconv.ParseInt(v, 10, 64)
				keys[k.Name] = n
				continue
			}
			keys[k.Name] = v
		default:
			keys[k.Name] = v
		}
	}
	return keys
}

// keysForm is a rule's keys as form values, to fill the edit form.
func keysForm(keys map[string]any) url.Values {
	form := url.Values{}
	for k, v := range keys {
		form.Set(k, fmt.Sprint(v))
	}
	return form
}

// tieErrors puts each line of a Console validation message that starts
// with a key's name ("min_tls_version: ...") next to that field too.
func tieErrors(msg string, errs map[string]string) {
	for _, line := range strings.Split(msg, "\n") {
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		key = strings.TrimSpace(key)
		for _, k := range ruleKeys() {
			if k.Name == key {
				errs[key] = strings.TrimSpace(rest)
			}
		}
	}
}

// ruleRow is one rule as the rules table shows it.
type ruleRow struct {
	RuleView
	Recipient, Sender, ClientNetwork string
	Settings                         string // the other keys, "key = value" in key order
}

func newRuleRow(v RuleView) ruleRow {
	row := ruleRow{RuleView: v}
	var settings []string
	for _, k := range ruleKeys() {
		val, ok := v.Keys[k.Name]
		if !ok {
			continue
		}
		s := fmt.Sprint(val)
		switch k.Name {
		case "recipient":
			row.Recipient = s
		case "sender":
			row.Sender = s
		case "client_network":
			row.ClientNetwork = s
		default:
			settings = append(settings, k.Name+" = "+s)
		}
	}
	row.Settings = strings.Join(settings, "; ")
	return row
}

// rulesView is the rules page's data.
type rulesView struct {
	Rows     []ruleRow
	Filter   string
	Keys     []ruleKey
	EditID   string // on the edit page: the rule being edited
	Editable int    // how many rows the admin source holds
}

// rulesPage lists the rules of every source, filtered by recipient, with
// the form that adds an admin rule.
func (ui *webUI) rulesPage(w http.ResponseWriter, r *http.Request, sess *session) {
	d := newPage("Rules", "rules", r, sess)
	d.Form = url.Values{}
	ui.showRules(w, r, d, http.StatusOK)
}

// showRules renders the rules page (after a refused add, d holds the
// submitted form and its errors).
func (ui *webUI) showRules(w http.ResponseWriter, r *http.Request, d *pageData, status int) {
	c := ui.console
	filter := strings.TrimSpace(r.URL.Query().Get("recipient"))
	rules, err := c.Rules(r.Context(), filter)
	v := rulesView{Filter: filter, Keys: ruleKeys()}
	for _, rv := range rules {
		v.Rows = append(v.Rows, newRuleRow(rv))
		if rv.Editable {
			v.Editable++
		}
	}
	d.Data = v
	if err != nil {
		ui.failed(w, statusOf(err), "rules.html", d, "the rules could not be listed", err)
		return
	}
	ui.render(w, status, "rules.html", d)
}

// ruleAdd adds an admin rule from the form.
func (ui *webUI) ruleAdd(w http.ResponseWriter, r *http.Request, sess *session) {
	d := newPage("Rules", "rules", r, sess)
	c := ui.console
	d.Form = r.PostForm
	keys := ruleFormKeys(r.PostForm, d.Errors)
	if len(d.Errors) > 0 {
		d.Error = "the rule was not added: see the fields marked Error"
		ui.showRules(w, r, d, http.StatusBadRequest)
		return
	}
	if _, err := c.AddRule(r.Context(), sess.user, keys); err != nil {
		ui.log.Info("admin web: rule refused", "user", sess.user, "err", err)
		d.Error = "the rule was not added: " + err.Error()
		tieErrors(err.Error(), d.Errors)
		ui.showRules(w, r, d, statusOf(err))
		return
	}
	redirectDone(w, r, "/rules", "added")
}

// ruleEditPage shows an admin rule's edit form.
func (ui *webUI) ruleEditPage(w http.ResponseWriter, r *http.Request, sess *session) {
	d := newPage("Edit rule", "rules", r, sess)
	ui.showRuleEdit(w, r, d, http.StatusOK, true)
}

// showRuleEdit renders the edit form; fill takes the values from the rule
// (a first visit) instead of the submitted form (a refused update).
func (ui *webUI) showRuleEdit(w http.ResponseWriter, r *http.Request, d *pageData, status int, fill bool) {
	c := ui.console
	id := r.PathValue("id")
	rules, err := c.Rules(r.Context(), "")
	if err != nil {
		ui.failed(w, statusOf(err), "error.html", d, "the rules could not be listed", err)
		return
	}
	i := slices.IndexFunc(rules, func(v RuleView) bool { return v.ID == id })
	if i < 0 {
		d.Error = "no rule with this id"
		ui.render(w, http.StatusNotFound, "error.html", d)
		return
	}
	row := newRuleRow(rules[i])
	if fill {
		d.Form = keysForm(rules[i].Keys)
	}
	d.Data = struct {
		Rule ruleRow
		Keys []ruleKey
	}{row, ruleKeys()}
	ui.render(w, status, "rule_edit.html", d)
}

// ruleUpdate replaces an admin rule's keys from the edit form.
func (ui *webUI) ruleUpdate(w http.ResponseWriter, r *http.Request, sess *session) {
	d := newPage("Edit rule", "rules", r, sess)
	c := ui.console
	d.Form = r.PostForm
	keys := ruleFormKeys(r.PostForm, d.Errors)
	if len(d.Errors) == 0 {
		_, err := c.UpdateRule(r.Context(), sess.user, r.PathValue("id"), keys)
		if err == nil {
			redirectDone(w, r, "/rules", "updated")
			return
		}
		ui.log.Info("admin web: rule update refused", "user", sess.user, "err", err)
		d.Error = "the rule was not changed: " + err.Error()
		tieErrors(err.Error(), d.Errors)
		ui.showRuleEdit(w, r, d, statusOf(err), false)
		return
	}
	d.Error = "the rule was not changed: see the fields marked Error"
	ui.showRuleEdit(w, r, d, http.StatusBadRequest, false)
}

// ruleDelete deletes an admin rule.
func (ui *webUI) ruleDelete(w http.ResponseWriter, r *http.Request, sess *session) {
	d := newPage("Rules", "rules", r, sess)
	c := ui.console
	if err := c.DeleteRule(r.Context(), sess.user, r.PathValue("id")); err != nil {
		ui.failed(w, statusOf(err), "error.html", d, "the rule was not deleted", err)
		return
	}
	redirectDone(w, r, "/rules", "deleted")
}
