package admin

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"spamgate/admin/rulefile"
	"spamgate/engine"
	"spamgate/policy"
)

// RuleView is one rule of any source, as the console shows it.
type RuleView struct {
	// ID names the rule in PUT / DELETE /api/v1/rules/{id}: the admin
	// source's own id; config-N, table-N (the N-th rule of the
	// configuration file or of the table files) or redis:KEY for the
	// others, which are not editable here.
	ID string `json:"id"`
	// Source is where the rule is written: FILE:LINE, redis:KEY or admin:ID.
	Source   string         `json:"source"`
	Editable bool           `json:"editable"`
	Keys     map[string]any `json:"keys"` // the [[policy.rule]] keys
	// By and At: who changed an admin rule last, and when.
	By string     `json:"by,omitempty"`
	At *time.Time `json:"at,omitempty"`
	// Error: a Redis hash that is no valid rule (and so refuses or
	// tempfails its recipients' mail); Keys is empty then.
	Error string `json:"error,omitempty"`
}

// maxRedisListed bounds the Redis rules a listing shows.
const maxRedisListed = 5000

// Rules lists every rule of every source, in the order they are tried at
// an equal key: the admin source, the configuration's [[policy.rule]], the
// table files, Redis. With a recipientFilter, only the rules whose key
// would be tried for that address (or whose key contains the text).
func (c *Console) Rules(ctx context.Context, recipientFilter string) ([]RuleView, error) {
	eng := c.o.Engine()
	match := ruleFilter(recipientFilter)
	var out []RuleView
	for _, e := range eng.AdminRules().Entries() {
		if match(e.Rule.Recipient) {
			out = append(out, adminView(e))
		}
	}
	cfg := eng.Config()
	for i, r := range cfg.PolicyRules() {
		if match(r.Recipient) {
			out = append(out, readOnlyView("config-"+strconv.Itoa(i+1), &r))
		}
	}
	if len(cfg.Policy.Tables) > 0 {
		// Read again: the engine keeps only the compiled lookup form. The
		// watcher reloads a changed table within watch_interval.
		tables, err := policy.LoadTables(cfg.Policy.Tables)
		if err != nil {
			return nil, fmt.Errorf("policy tables: %w", err)
		}
		for i, r := range tables {
			if match(r.Recipient) {
				out = append(out, readOnlyView("table-"+strconv.Itoa(i+1), &r))
			}
		}
	}
	if src := eng.RedisPolicy(); src != nil {
		rules, bad, truncated, err := src.List(ctx, maxRedisListed)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		for _, r := range rules {
			if match(r.Recipient) {
				out = append(out, readOnlyView(r.Source, r))
			}
		}
		for key, err := range bad {
			out = append(out, RuleView{ID: "redis:" + key, Source: "redis:" + key, Keys: map[string]any{}, Error: err.Error()})
		}
		if truncated {
			c.log.Warn("admin rules listing: Redis holds more rules than are listed", "listed", maxRedisListed)
		}
	}
	return out, nil
}

// ruleFilter matches a rule's recipient key against the console's filter:
// a key Lookup would try for the filter (an address, with "*"; or a
// domain), or a key containing the filter's text.
func ruleFilter(f string) func(key string) bool {
	f = strings.TrimSpace(f)
	if f == "" {
		return func(string) bool { return true }
	}
	lf := strings.ToLower(f)
	return func(key string) bool {
		if key == "*" && !strings.Contains(f, "@") {
			return false // "*" applies to every address, but a text search for "corp" does not want it
		}
		return policy.KeyRank(f, key) >= 0 || strings.Contains(strings.ToLower(key), lf)
	}
}

func adminView(e rulefile.Entry) RuleView {
	at := e.At
	return RuleView{ID: e.ID, Source: e.Source(), Editable: true, Keys: e.Keys(), By: e.By, At: &at}
}

func readOnlyView(id string, r *policy.Rule) RuleView {
	return RuleView{ID: id, Source: r.Source, Keys: rulefile.PolicyRuleKeys(r)}
}

// adminRules is the admin source, or ErrUnavailable without a rules_file.
func (c *Console) adminRules() (*rulefile.Store, error) {
	rs := c.o.Engine().AdminRules()
	if rs == nil {
		return nil, fmt.Errorf("admin rules: %w (set [admin] rules_file)", ErrUnavailable)
	}
	return rs, nil
}

// AddRule adds a rule to the admin source; it applies from the next RCPT.
// keys are those of a [[policy.rule]]; a bad rule is a *ValidationError
// with check-config's words.
func (c *Console) AddRule(ctx context.Context, user string, keys map[string]any) (RuleView, error) {
	rs, err := c.adminRules()
	if err != nil {
		return RuleView{}, err
	}
	e, err := rs.Add(user, keys, c.now())
	if err != nil {
		return RuleView{}, ruleError(err)
	}
	v := adminView(e)
	c.record(user, "rule.add", e.Source(), nil, v)
	return v, nil
}

// UpdateRule replaces an admin rule's keys (all of them: a key left out is
// unset).
func (c *Console) UpdateRule(ctx context.Context, user, id string, keys map[string]any) (RuleView, error) {
	if notAdminID(id) {
		return RuleView{}, ErrNotEditable
	}
	rs, err := c.adminRules()
	if err != nil {
		return RuleView{}, err
	}
	before, after, err := rs.Update(user, id, keys, c.now())
	if err != nil {
		return RuleView{}, ruleError(err)
	}
	v := adminView(after)
	c.record(user, "rule.update", after.Source(), adminView(before), v)
	return v, nil
}

// DeleteRule removes an admin rule.
func (c *Console) DeleteRule(ctx context.Context, user, id string) error {
	if notAdminID(id) {
		return ErrNotEditable
	}
	rs, err := c.adminRules()
	if err != nil {
		return err
	}
	gone, err := rs.Delete(id)
	if err != nil {
		return ruleError(err)
	}
	c.record(user, "rule.delete", gone.Source(), adminView(gone), nil)
	return nil
}

// notAdminID tells the other sources' ids (config-N, table-N, redis:KEY).
func notAdminID(id string) bool {
	return strings.HasPrefix(id, "config-") || strings.HasPrefix(id, "table-") || strings.HasPrefix(id, "redis:") || strings.HasPrefix(id, "file:")
}

// ruleError maps the rule file's errors to the console's.
func ruleError(err error) error {
	var ve *rulefile.ValidationError
	switch {
	case errors.As(err, &ve):
		return &ValidationError{Msg: ve.Msg}
	case errors.Is(err, rulefile.ErrNotFound):
		return ErrNotFound
	}
	return err
}

// LookupView answers "which rule applies to this recipient, and why".
type LookupView struct {
	Recipient string `json:"recipient"`
	// Keys are the recipient keys in the order they are tried.
	Keys []string `json:"keys"`
	// Rule is the rule that applies; nil: none, the global settings do.
	Rule *RuleView `json:"rule"`
	// Candidates are each source's most specific matching rule, with the
	// key it matched at; the applying rule is the one with the lowest rank.
	Candidates []LookupCandidate `json:"candidates"`
	Why        string            `json:"why"`
	// RedisError: Redis could not be asked; on_error decides.
	RedisError string `json:"redis_error,omitempty"`
}

// LookupCandidate is one source's answer.
type LookupCandidate struct {
	Source string   `json:"source"` // admin, file, redis
	Rank   int      `json:"rank"`   // index in Keys
	Rule   RuleView `json:"rule"`
}

// Lookup tells which rule applies to rcpt, as the engine picks it at RCPT
// (engine.Session.lookupRule): the most specific key across the sources;
// at an equal key the admin source, then the files, then Redis. sender and
// client are optional: without them, rules with sender= or client_network=
// conditions do not match (use explain for a whole transaction).
func (c *Console) Lookup(ctx context.Context, rcpt string) (LookupView, error) {
	return c.LookupFor(ctx, rcpt, "", "")
}

// noSender matches no sender condition, not even the null sender's.
const noSender = "\x00"

// LookupFor is Lookup for a given envelope sender and client address.
func (c *Console) LookupFor(ctx context.Context, rcpt, sender, client string) (LookupView, error) {
	rcpt = strings.TrimSpace(rcpt)
	if rcpt == "" {
		return LookupView{}, &ValidationError{Msg: "recipient: an address is required"}
	}
	var addr netip.Addr
	if client != "" {
		var err error
		if addr, err = netip.ParseAddr(client); err != nil {
			return LookupView{}, &ValidationError{Msg: fmt.Sprintf("client: %q is not an IP address", client)}
		}
	}
	if sender == "" {
		sender = noSender
	}
	eng := c.o.Engine()
	v := LookupView{Recipient: rcpt, Keys: policy.Keys(rcpt), Candidates: []LookupCandidate{}}
	add := func(source string, r *policy.Rule, view RuleView) {
		if r != nil {
			v.Candidates = append(v.Candidates, LookupCandidate{Source: source, Rank: policy.KeyRank(rcpt, r.Recipient), Rule: view})
		}
	}
	if r := eng.AdminRules().Lookup(rcpt, sender, addr); r != nil {
		e, _ := eng.AdminRules().Get(strings.TrimPrefix(r.Source, rulefile.SourcePrefix))
		add("admin", r, adminView(e))
	}
	if r := eng.Policy().Lookup(rcpt, sender, addr); r != nil {
		add("file", r, readOnlyView(c.fileRuleID(eng, r), r))
	}
	if src := eng.RedisPolicy(); src != nil {
		r, err := src.Lookup(ctx, rcpt)
		if err != nil {
			v.RedisError = err.Error()
		} else if r != nil {
			add("redis", r, readOnlyView(r.Source, r))
		}
	}
	v.Why = c.explainPick(&v, eng)
	return v, nil
}

// explainPick picks the winner as lookupRule does (candidates come in the
// tie order) and says why.
func (c *Console) explainPick(v *LookupView, eng *engine.Engine) string {
	best := -1
	for i, cand := range v.Candidates {
		if best < 0 || cand.Rank < v.Candidates[best].Rank {
			best = i
		}
	}
	var why string
	if best < 0 {
		why = "no rule of any source matches a key of this recipient: the global settings apply"
	} else {
		w := v.Candidates[best]
		v.Rule = &w.Rule
		why = fmt.Sprintf("%s applies: it matches at key %q, the %s of the %d keys tried", w.Rule.Source, v.Keys[w.Rank], ordinal(w.Rank+1), len(v.Keys))
		if len(v.Candidates) > 1 {
			why += "; the most specific key wins across the sources, and at an equal key the admin source wins, then the configuration and table files, then Redis"
		}
	}
	if v.RedisError != "" {
		switch eng.Config().Policy.Redis.OnError {
		case "tempfail":
			why += "; Redis cannot be asked now, so with on_error = tempfail this recipient's mail is deferred (451 4.3.0)"
		default:
			why += "; Redis cannot be asked now, so with on_error = ignore the other sources decide"
		}
	}
	return why
}

// fileRuleID finds the config-N / table-N id of a file rule by its Source,
// the id Rules lists it with.
func (c *Console) fileRuleID(eng *engine.Engine, r *policy.Rule) string {
	cfg := eng.Config()
	for i, cr := range cfg.PolicyRules() {
		if cr.Source == r.Source {
			return "config-" + strconv.Itoa(i+1)
		}
	}
	if tables, err := policy.LoadTables(cfg.Policy.Tables); err == nil {
		for i, tr := range tables {
			if tr.Source == r.Source {
				return "table-" + strconv.Itoa(i+1)
			}
		}
	}
	return "file:" + r.Source // a table changed since the policy in force was loaded
}

func ordinal(n int) string {
	switch {
	case n%100 >= 11 && n%100 <= 13:
		return strconv.Itoa(n) + "th"
	case n%10 == 1:
		return strconv.Itoa(n) + "st"
	case n%10 == 2:
		return strconv.Itoa(n) + "nd"
	case n%10 == 3:
		return strconv.Itoa(n) + "rd"
	}
	return strconv.Itoa(n) + "th"
}

// checkTLSVersion checks a min_tls_version argument as a rule's.
func checkTLSVersion(v string) error {
	if v == "" {
		return nil
	}
	if err := (policy.Settings{MinTLSVersion: v}).Validate(); err != nil {
		return &ValidationError{Msg: err.Error()}
	}
	return nil
}
