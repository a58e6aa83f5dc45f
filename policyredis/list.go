package policyredis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"spamgate/policy"
)

// List returns up to max rules under the key prefix, for the admin
// console's read-only view, sorted by key; truncated says that more
// exist. The keys are found with SCAN (on every master of a Cluster), so
// Redis is never blocked as by KEYS; a hash with a bad field is listed
// with its error instead of a rule. The whole listing shares one deadline
// of ten lookup timeouts.
func (s *Source) List(ctx context.Context, max int) (rules []*policy.Rule, bad map[string]error, truncated bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*s.timeout)
	defer cancel()
	var mu sync.Mutex
	var keys []string
	scan := func(ctx context.Context, c redis.Cmdable) error {
		it := c.Scan(ctx, 0, escapeGlob(s.prefix)+"*", 500).Iterator()
		for it.Next(ctx) {
			mu.Lock()
			if len(keys) > max {
				mu.Unlock()
				return nil
			}
			keys = append(keys, it.Val())
			mu.Unlock()
		}
		return it.Err()
	}
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.rdb)
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("redis policy list at %s: SCAN: %w", s.where, err)
	}
	slices.Sort(keys)
	if len(keys) > max {
		keys, truncated = keys[:max], true
	}
	bad = map[string]error{}
	for start := 0; start < len(keys); start += listBatch {
		batch := keys[start:min(start+listBatch, len(keys))]
		if err := s.listBatch(ctx, batch, &rules, bad); err != nil {
			return nil, nil, false, err
		}
	}
	return rules, bad, truncated, nil
}

// listBatch is how many hashes one pipeline fetches: one round trip per
// batch (per node of a Cluster) instead of one per key.
const listBatch = 500

// listBatch fetches the hashes of keys in one pipeline.
func (s *Source) listBatch(ctx context.Context, keys []string, rules *[]*policy.Rule, bad map[string]error) error {
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	pipe := s.rdb.Pipeline()
	for i, k := range keys {
		cmds[i] = pipe.HGetAll(ctx, k)
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	for i, cmd := range cmds {
		k := keys[i]
		fields, err := cmd.Result()
		if err != nil {
			var reply redis.Error
			if !errors.As(err, &reply) {
				return fmt.Errorf("redis policy list at %s: %w", s.where, err)
			}
			bad[k] = fmt.Errorf("redis key %q: HGETALL: %w", k, err)
			continue
		}
		if len(fields) == 0 {
			continue // deleted since the SCAN
		}
		r, err := ruleFromHash(s.prefix, strings.TrimPrefix(k, s.prefix), fields)
		if err != nil {
			bad[k] = err
			continue
		}
		*rules = append(*rules, r)
	}
	return nil
}

// escapeGlob quotes the characters SCAN MATCH treats as a pattern.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
