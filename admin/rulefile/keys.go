package rulefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	toml "github.com/pelletier/go-toml/v2"

	"spamgate/config"
	"spamgate/policy"
)

// ValidationError is a rule refused; its message is what check-config says
// of the same keys in a [[policy.rule]] entry, without the file, line and
// "policy.rule[N]" in front.
type ValidationError struct{ Msg string }

func (e *ValidationError) Error() string { return e.Msg }

// snippetName names the TOML built from a rule's keys in config's errors;
// it is cut from the messages.
const snippetName = "admin rule"

// ParseKeys checks a rule given as the keys of a [[policy.rule]] entry (the
// JSON API's body; a [[rule]] of the file) with check-config's own code:
// the keys are written as a [[policy.rule]] and parsed by config.Parse (the
// unknown keys, the types, the values), then compiled by policy.New (the
// recipient and sender forms). Any problem is a *ValidationError.
//
// Values are strings, numbers and booleans; a JSON number (float64 or
// json.Number) that is whole is an integer, as in TOML. A null is as if
// the key were not there.
func ParseKeys(keys map[string]any) (config.PolicyRule, error) {
	rule := map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		v, err := tomlValue(keys[k])
		if err != nil {
			return config.PolicyRule{}, &ValidationError{Msg: fmt.Sprintf("%s: %v", k, err)}
		}
		if v != nil {
			rule[k] = v
		}
	}
	doc := map[string]any{"policy": map[string]any{"rule": []map[string]any{rule}}}
	data, err := toml.Marshal(doc)
	if err != nil {
		return config.PolicyRule{}, &ValidationError{Msg: err.Error()}
	}
	cfg, err := config.Parse(snippetName, data)
	if err != nil {
		return config.PolicyRule{}, &ValidationError{Msg: configMessage(err)}
	}
	r := cfg.Policy.Rules[0]
	if _, _, err := policy.New(cfg.PolicyRules()); err != nil {
		return config.PolicyRule{}, &ValidationError{Msg: policyMessage(err)}
	}
	return r, nil
}

// tomlValue maps a decoded JSON (or TOML) value to what go-toml writes as
// the same TOML value.
func tomlValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool, int64:
		return x, nil
	case int:
		return int64(x), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), nil
		}
		return x, nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", x.String())
		}
		return f, nil
	}
	return nil, errors.New("a rule's value is a string, a number or true/false")
}

// configMessage turns config.Parse's errors into check-config's words
// without "admin rule:LINE: policy.rule[1]" in front: "KEY: MSG" or
// "MSG" when the message names its key itself.
func configMessage(err error) string {
	var errs config.Errors
	if !errors.As(err, &errs) {
		return err.Error()
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		key := strings.TrimPrefix(e.Key, "policy.rule")
		if strings.HasPrefix(key, "#") {
			key = strings.TrimLeft(key[1:], "0123456789")
		}
		key = strings.TrimPrefix(key, ".")
		msgs[i] = e.Msg
		if key != "" {
			msgs[i] = key + ": " + e.Msg
		}
	}
	return strings.Join(msgs, "\n")
}

// policyMessage cuts policy.New's "policy: admin rule:LINE: " prefixes.
func policyMessage(err error) string {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		if j := strings.Index(l, snippetName+":"); j >= 0 {
			rest := l[j+len(snippetName)+1:]
			rest = strings.TrimLeft(rest, "0123456789")
			lines[i] = strings.TrimPrefix(rest, ": ")
		}
	}
	return strings.Join(lines, "\n")
}

// RuleKeys are a rule's [[policy.rule]] keys with their values, as the
// JSON API shows them (unset settings left out).
func RuleKeys(r config.PolicyRule) map[string]any {
	data, err := toml.Marshal(r)
	if err != nil {
		return map[string]any{"recipient": r.Recipient}
	}
	out := map[string]any{}
	if err := toml.Unmarshal(data, &out); err != nil {
		return map[string]any{"recipient": r.Recipient}
	}
	return out
}

// PolicyRuleKeys are the keys of a rule from any source (a table file,
// Redis) in the same form.
func PolicyRuleKeys(r *policy.Rule) map[string]any {
	pr := config.PolicyRule{Recipient: r.Recipient, Sender: r.Sender, Settings: r.Settings}
	if r.ClientNetwork.IsValid() {
		pr.ClientNetwork = r.ClientNetwork.String()
	}
	return RuleKeys(pr)
}
