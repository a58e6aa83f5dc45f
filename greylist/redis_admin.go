package greylist

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// AddWhitelist sets a field of the kind's whitelist hash.
func (s *Redis) AddWhitelist(ctx context.Context, w WhitelistEntry) error {
	w, err := normalizeWhitelist(w)
	if err != nil {
		return err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := s.rdb.HSet(ctx, s.whitelistKey(w.Kind), w.Value, unixOrZero(w.Expires)).Err(); err != nil {
		return s.err("add whitelist entry", err)
	}
	return nil
}

// RemoveWhitelist deletes a field; a missing one is no error.
func (s *Redis) RemoveWhitelist(ctx context.Context, kind, value string) error {
	v, err := normalizeWhitelistValue(kind, value)
	if err != nil {
		return err
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := s.rdb.HDel(ctx, s.whitelistKey(kind), v).Err(); err != nil {
		return s.err("remove whitelist entry", err)
	}
	return nil
}

// Whitelist reads both hashes in one pipeline and drops expired entries
// from them, so that they do not pile up.
func (s *Redis) Whitelist(ctx context.Context) ([]WhitelistEntry, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	kinds := []string{KindNetwork, KindDomain}
	cmds := make([]*redis.MapStringStringCmd, len(kinds))
	pipe := s.rdb.Pipeline()
	for i, kind := range kinds {
		cmds[i] = pipe.HGetAll(ctx, s.whitelistKey(kind))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, s.err("list whitelist", err)
	}
	now := s.now()
	var out []WhitelistEntry
	for i, kind := range kinds {
		var expired []string
		for v, exp := range cmds[i].Val() {
			unix, _ := strconv.ParseInt(exp, 10, 64) // a bad value never expires: an admin wrote it
			w := WhitelistEntry{Kind: kind, Value: v, Expires: timeOrZero(unix)}
			if w.expiredAt(now) {
				expired = append(expired, v)
				continue
			}
			out = append(out, w)
		}
		if len(expired) > 0 {
			// Best effort: the next listing tries again.
			_ = s.rdb.HDel(ctx, s.whitelistKey(kind), expired...).Err()
		}
	}
	sortWhitelist(out)
	return out, nil
}

// Counts scans the prefix on every master (the only node of a single
// server). It walks the whole key space of the prefix: for admins, not
// for every message.
func (s *Redis) Counts(ctx context.Context) (Counts, error) {
	var (
		mu  sync.Mutex
		all Counts
	)
	scan := func(ctx context.Context, c *redis.Client) error {
		n, err := s.countNode(ctx, c)
		mu.Lock()
		defer mu.Unlock()
		all.Waiting += n.Waiting
		all.Passed += n.Passed
		all.AWLClients += n.AWLClients
		all.Whitelist += n.Whitelist
		return err
	}
	var err error
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	}
	if err != nil {
		return Counts{}, s.err("counts", err)
	}
	return all, nil
}

// countNode counts the keys of one node, a SCAN batch and its HEXISTS
// pipeline at a time.
func (s *Redis) countNode(ctx context.Context, c *redis.Client) (Counts, error) {
	var n Counts
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, s.o.KeyPrefix+"*", 1000).Result()
		if err != nil {
			return n, err
		}
		if err := s.countKeys(ctx, c, keys, &n); err != nil {
			return n, err
		}
		if cursor = next; cursor == 0 {
			return n, nil
		}
	}
}

func (s *Redis) countKeys(ctx context.Context, c *redis.Client, keys []string, n *Counts) error {
	var triplets []*redis.BoolCmd
	pipe := c.Pipeline()
	for _, k := range keys {
		switch {
		case strings.Contains(k, "}:t:"):
			triplets = append(triplets, pipe.HExists(ctx, k, "pass"))
		case strings.HasSuffix(k, "}:awl"):
			n.AWLClients++
		case k == s.whitelistKey(KindNetwork) || k == s.whitelistKey(KindDomain):
			// HLEN counts expired entries not yet listed; close enough for admins.
			l, err := c.HLen(ctx, k).Result()
			if err != nil {
				return err
			}
			n.Whitelist += int(l)
		}
	}
	if len(triplets) == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	for _, t := range triplets {
		if t.Val() {
			n.Passed++
		} else {
			n.Waiting++
		}
	}
	return nil
}
