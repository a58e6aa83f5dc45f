package policyredis

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"spamgate/policy"
)

// ruleFromHash builds the rule a panel wrote at prefix+key. Every bad field
// is reported, each naming the Redis key, in field order so that the
// message is the same at every lookup.
func ruleFromHash(prefix, key string, fields map[string]string) (*policy.Rule, error) {
	redisKey := prefix + key
	r := &policy.Rule{Recipient: key, Source: "redis:" + redisKey}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if err := setField(&r.Settings, name, fields[name]); err != nil {
			errs = append(errs, fmt.Errorf("redis key %q: %w", redisKey, err))
		}
	}
	if len(errs) == 0 { // settings that are fine alone but not together
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("redis key %q: %w", redisKey, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// setField sets one field as a table file's name=value; its errors start
// with the field's name.
func setField(s *policy.Settings, name, value string) error {
	switch name {
	case "sender", "client_network":
		// A hash holds one rule per key, and conditional rules need an
		// order among the rules of a key: they belong in a table file.
		return fmt.Errorf("%s: conditions are not supported in Redis; write this rule in a table file", name)
	}
	return s.Set(name, value)
}
