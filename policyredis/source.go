package policyredis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"spamgate/policy"
	"spamgate/redisconn"
)

// Source looks up per-recipient rules in Redis. It is safe for concurrent
// use; go-redis pools the connections.
type Source struct {
	rdb     redis.UniversalClient
	prefix  string
	timeout time.Duration
	where   string // the servers, for errors
}

// New checks o and makes a client; it does not connect (use Ping to check
// the server at start-up). The client is a single-server, Cluster or
// Sentinel (failover) client as o says, never guessed from the number of
// addresses.
func New(o Options) (*Source, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("redis policy source: %w", err)
	}
	rdb, err := redisconn.New(o.conn())
	if err != nil {
		return nil, fmt.Errorf("redis policy source: %w", err)
	}
	return &Source{rdb: rdb, prefix: o.KeyPrefix, timeout: o.Timeout, where: o.conn().Where()}, nil
}

// Lookup returns the rule of the most specific key of rcpt (policy.Keys)
// that has a hash, or nil when none has. All keys are fetched in one
// pipeline: one round trip to a single server; in a Cluster, one per node
// holding some of the keys, sent in parallel. The Rule's Recipient is the
// key ("example.org"), its Source "redis:" and the Redis key
// ("redis:spamgate:policy:example.org"); it is the caller's to keep.
//
// A hash with a bad field, or a key holding something else than a hash, is
// an error naming the Redis key, unless a more specific key has a rule: a
// broken entry must not let a less specific rule apply in its place. Redis
// trouble is an error too, returned within Options.Timeout.
func (s *Source) Lookup(ctx context.Context, rcpt string) (*policy.Rule, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	keys := policy.Keys(rcpt)
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	pipe := s.rdb.Pipeline()
	for i, k := range keys {
		cmds[i] = pipe.HGetAll(ctx, s.prefix+k)
	}
	_, execErr := pipe.Exec(ctx)
	for i, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			return nil, s.lookupError(rcpt, s.prefix+keys[i], err)
		}
		if fields := cmd.Val(); len(fields) > 0 {
			return ruleFromHash(s.prefix, keys[i], fields)
		}
	}
	if execErr != nil { // every command has its error set; this is a safety net
		return nil, fmt.Errorf("redis policy lookup for %q at %s: %w", rcpt, s.where, execErr)
	}
	return nil, nil
}

// lookupError tells a reply about one key (a key of another type) from the
// server being unreachable or slow, which fails every key alike.
func (s *Source) lookupError(rcpt, redisKey string, err error) error {
	var reply redis.Error
	if errors.As(err, &reply) {
		return fmt.Errorf("redis key %q: HGETALL: %w", redisKey, err)
	}
	return fmt.Errorf("redis policy lookup for %q at %s: %w", rcpt, s.where, err)
}

// Ping checks that the server answers, within Options.Timeout; for start-up
// checks and health probes.
func (s *Source) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis policy source at %s: PING: %w", s.where, err)
	}
	return nil
}

// Close closes the connections; Lookup fails afterwards.
func (s *Source) Close() error {
	if err := s.rdb.Close(); err != nil {
		return fmt.Errorf("redis policy source at %s: close: %w", s.where, err)
	}
	return nil
}
