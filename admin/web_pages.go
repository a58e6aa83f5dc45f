package admin

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"spamgate/history"
)

// rowsView is a search page's answer; nil Data means "not searched yet",
// an empty Rows "searched, nothing found".
type rowsView[T any] struct{ Rows []T }

// keyCount is one row of the dashboard's tables.
type keyCount struct {
	Key   string
	Count int
}

// dashboardView is the dashboard's data: the counts sorted, highest first.
type dashboardView struct {
	Transactions int
	Refusals     []keyCount
	TLSVersions  []keyCount
}

func sortedCounts(m map[string]int) []keyCount {
	out := make([]keyCount, 0, len(m))
	for k, n := range m {
		out = append(out, keyCount{k, n})
	}
	slices.SortFunc(out, func(a, b keyCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Key, b.Key))
	})
	return out
}

func (ui *webUI) dashboardPage(w http.ResponseWriter, r *http.Request, sess *session) {
	d := newPage("Dashboard", "dashboard", r, sess)
	c := ui.console
	st, err := c.Dashboard(r.Context())
	if err != nil {
		ui.failed(w, statusOf(err), "dashboard.html", d, "the dashboard could not be read", err)
		return
	}
	d.Data = dashboardView{Transactions: st.Transactions, Refusals: sortedCounts(st.Refusals), TLSVersions: sortedCounts(st.TLSVersions)}
	ui.render(w, http.StatusOK, "dashboard.html", d)
}

// decisionsPage searches the decision history. An empty form searches
// nothing; any field set runs the search.
func (ui *webUI) decisionsPage(w http.ResponseWriter, r *http.Request, sess *session) {
	d := newPage("Decisions", "decisions", r, sess)
	_ = r.ParseForm()
	d.Form = r.Form
	c := ui.console
	q := r.URL.Query()
	f := history.Filter{
		Recipient: strings.TrimSpace(q.Get("recipient")),
		Sender:    strings.TrimSpace(q.Get("sender")),
		Client:    strings.TrimSpace(q.Get("client")),
		QueueID:   strings.TrimSpace(q.Get("queue_id")),
	}
	if s := strings.TrimSpace(q.Get("since")); s != "" {
		t, err := parseSince(s, time.Now())
		if err != nil {
			d.Errors["since"] = err.Error()
			ui.render(w, http.StatusBadRequest, "decisions.html", d)
			return
		}
		f.Since = t
	}
	if !q.Has("recipient") && !q.Has("sender") && !q.Has("client") && !q.Has("queue_id") && !q.Has("since") {
		// First visit: the most recent transactions.
		f.Limit = history.DefaultLimit
	}
	recs, err := c.Decisions(r.Context(), f)
	if err != nil {
		ui.failed(w, statusOf(err), "decisions.html", d, "the decision history could not be searched", err)
		return
	}
	d.Data = rowsView[history.Record]{Rows: recs}
	ui.render(w, http.StatusOK, "decisions.html", d)
}

// parseSince reads the decisions search's "since": a duration back from
// now ("90m", "2h", "3d") or a UTC time (2026-12-07, 2026-12-07T10:00,
// RFC 3339).
func parseSince(s string, now time.Time) (time.Time, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days >= 0 && days <= 366 {
			return now.Add(-time.Duration(days) * 24 * time.Hour), nil
		}
	}
	if dur, err := time.ParseDuration(s); err == nil && dur >= 0 {
		return now.Add(-dur), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("not a duration (2h, 3d) or a time (2026-12-07, 2026-12-07T10:00)")
}

// rolloutPage is the TLS rollout advisor.
func (ui *webUI) rolloutPage(w http.ResponseWriter, r *http.Request, sess *session) {
	d := newPage("TLS rollout advisor", "rollout", r, sess)
	_ = r.ParseForm()
	d.Form = r.Form
	c := ui.console
	q := r.URL.Query()
	pattern := strings.TrimSpace(q.Get("recipient"))
	if !q.Has("recipient") {
		ui.render(w, http.StatusOK, "rollout.html", d)
		return
	}
	if pattern == "" {
		d.Errors["recipient"] = "a recipient pattern is required"
	}
	days := 0
	if s := strings.TrimSpace(q.Get("days")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 366 {
			d.Errors["days"] = "not a number of days between 1 and 366"
		}
		days = n
	}
	minTLS := q.Get("min_tls")
	if minTLS != "" && !slices.Contains([]string{"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}, minTLS) {
		d.Errors["min_tls"] = "not a TLS version (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3)"
	}
	if len(d.Errors) > 0 {
		ui.render(w, http.StatusBadRequest, "rollout.html", d)
		return
	}
	rows, err := c.Rollout(r.Context(), pattern, days, minTLS)
	if err != nil {
		ui.failed(w, statusOf(err), "rollout.html", d, "the rollout advisor could not answer", err)
		return
	}
	d.Data = rowsView[history.RolloutRow]{Rows: rows}
	ui.render(w, http.StatusOK, "rollout.html", d)
}

// lookupPage tells which rule applies to a recipient, and why.
func (ui *webUI) lookupPage(w http.ResponseWriter, r *http.Request, sess *session) {
	d := newPage("Lookup", "lookup", r, sess)
	_ = r.ParseForm()
	d.Form = r.Form
	c := ui.console
	q := r.URL.Query()
	if !q.Has("recipient") {
		ui.render(w, http.StatusOK, "lookup.html", d)
		return
	}
	rcpt := strings.TrimSpace(q.Get("recipient"))
	if rcpt == "" {
		d.Errors["recipient"] = "an address is required"
		ui.render(w, http.StatusBadRequest, "lookup.html", d)
		return
	}
	v, err := c.Lookup(r.Context(), rcpt)
	if err != nil {
		d.Errors["recipient"] = err.Error()
		ui.failed(w, statusOf(err), "lookup.html", d, "the lookup failed", err)
		return
	}
	view := lookupView{LookupView: v}
	if v.Rule != nil {
		row := newRuleRow(*v.Rule)
		view.Applied = &row
	}
	for _, cand := range v.Candidates {
		view.Candidates = append(view.Candidates, lookupCandidate{Source: cand.Source, Key: keyAt(v.Keys, cand.Rank), Rule: newRuleRow(cand.Rule)})
	}
	d.Data = view
	ui.render(w, http.StatusOK, "lookup.html", d)
}

// lookupView is the lookup page's data.
type lookupView struct {
	LookupView
	Applied    *ruleRow
	Candidates []lookupCandidate
}

type lookupCandidate struct {
	Source, Key string
	Rule        ruleRow
}

func keyAt(keys []string, i int) string {
	if i < 0 || i >= len(keys) {
		return ""
	}
	return keys[i]
}

// auditRow is one audit entry with its before and after states as JSON
// text (escaped by the template like any other value).
type auditRow struct {
	AuditEntry
	BeforeJSON, AfterJSON string
}

// auditPage lists the changes made through the console, newest first.
func (ui *webUI) auditPage(w http.ResponseWriter, r *http.Request, sess *session) {
	d := newPage("Audit", "audit", r, sess)
	c := ui.console
	entries, err := c.Audit(r.Context(), 200)
	if err != nil {
		ui.failed(w, statusOf(err), "audit.html", d, "the audit log could not be read", err)
		return
	}
	rows := make([]auditRow, 0, len(entries))
	for _, e := range entries {
		rows = append(rows, auditRow{AuditEntry: e, BeforeJSON: compactJSON(e.Before), AfterJSON: compactJSON(e.After)})
	}
	d.Data = rowsView[auditRow]{Rows: rows}
	ui.render(w, http.StatusOK, "audit.html", d)
}

// compactJSON is an audit state as one line: a rule's keys as
// "key = value; …" (what an admin compares), anything else as compact
// JSON; "" for nil.
func compactJSON(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var rule struct {
		Keys map[string]any `json:"keys"`
	}
	if json.Unmarshal(b, &rule) == nil && len(rule.Keys) > 0 {
		pairs := make([]string, 0, len(rule.Keys))
		for _, k := range slices.Sorted(maps.Keys(rule.Keys)) {
			pairs = append(pairs, fmt.Sprintf("%s = %v", k, rule.Keys[k]))
		}
		return strings.Join(pairs, "; ")
	}
	return string(b)
}
