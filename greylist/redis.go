package greylist

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"spamgate/redisconn"
)

// Redis keeps the state in Redis, shared by every MX host. Keys:
//
//	<prefix>{<h(client key)>}:t:<h(sender NUL rcpt)>  triplet hash, TTL window or pass TTL
//	<prefix>{<h(client key)>}:awl                     auto-whitelist hash, TTL AWL TTL
//	<prefix>wl:network, <prefix>wl:domain             whitelist hashes, value -> expiry (Unix s, 0 never)
//
// h is hashHex: no address is kept in clear. The hash tag puts a triplet
// and its client's counter in one Cluster slot, as the check script needs.
// Every triplet and counter key has a TTL, so Redis needs no cleanup.
type Redis struct {
	rdb     redis.UniversalClient
	o       RedisOptions
	where   string
	check   *redis.Script
	release *redis.Script
}

var _ Store = (*Redis)(nil)

// NewRedis checks o and makes a client; it does not connect (Ping does).
func NewRedis(o RedisOptions) (*Redis, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("greylist redis store: %w", err)
	}
	rdb, err := redisconn.New(o.conn())
	if err != nil {
		return nil, fmt.Errorf("greylist redis store: %w", err)
	}
	check, release := newScripts()
	return &Redis{
		rdb:     rdb,
		o:       o,
		where:   o.conn().Where(),
		check:   check,
		release: release,
	}, nil
}

// keys are the triplet key and the auto-whitelist key of k.
func (s *Redis) keys(k Key) (triplet, awl string) {
	c, pair := k.hashes()
	base := s.o.KeyPrefix + "{" + c + "}"
	return base + ":t:" + pair, base + ":awl"
}

func (s *Redis) whitelistKey(kind string) string { return s.o.KeyPrefix + "wl:" + kind }

// nowArg is the script's clock: 0 for the server's.
func (s *Redis) nowArg() int64 {
	if s.o.Now == nil {
		return 0
	}
	return s.o.Now().UnixMilli()
}

// now is the client-side clock, for what the scripts do not decide.
func (s *Redis) now() time.Time {
	if s.o.Now == nil {
		return time.Now()
	}
	return s.o.Now()
}

// withTimeout bounds one call by Options.Timeout.
func (s *Redis) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.o.Timeout)
}

func (s *Redis) err(what string, err error) error {
	return fmt.Errorf("greylist redis store at %s: %s: %w", s.where, what, err)
}

// Check runs the check script: one EVALSHA (an EVAL as well the first time
// a server sees it, after a restart or SCRIPT FLUSH).
func (s *Redis) Check(ctx context.Context, k Key, p Params) (Decision, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	p = p.WithDefaults()
	tk, ak := s.keys(k)
	var res []any
	var err error
	for pause := 5 * time.Millisecond; ; pause *= 2 {
		res, err = s.check.Run(ctx, s.rdb, []string{tk, ak}, s.nowArg(),
			millis(p.Delay), millis(p.RetryWindow), millis(p.PassTTL), millis(p.AWLTTL), p.AWLCount).Slice()
		if !redis.IsTryAgainError(err) || !sleepCtx(ctx, pause) {
			break
		}
	}
	if redis.IsTryAgainError(err) {
		// The triplet's slot is being migrated between Cluster nodes and
		// its two keys are split for a moment: not a sign that Redis is
		// failing, so the breaker does not count it (errSlotMoving).
		return Decision{}, s.err("check", fmt.Errorf("%w: %w", errSlotMoving, err))
	}
	if err != nil {
		return Decision{}, s.err("check", err)
	}
	d, err := decisionFromReply(res)
	if err != nil {
		return Decision{}, s.err("check", err)
	}
	return d, nil
}

// decisionFromReply reads {allowed, wait ms, reason}.
func decisionFromReply(res []any) (Decision, error) {
	if len(res) != 3 {
		return Decision{}, fmt.Errorf("script reply %v: want 3 elements", res)
	}
	allowed, ok1 := res[0].(int64)
	wait, ok2 := res[1].(int64)
	reason, ok3 := res[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return Decision{}, fmt.Errorf("script reply %v: want integer, integer, string", res)
	}
	return Decision{Allowed: allowed == 1, Wait: time.Duration(wait) * time.Millisecond, Reason: reason}, nil
}

// Status reads both hashes in one pipeline (one slot, so one node).
func (s *Redis) Status(ctx context.Context, k Key) (Entry, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	tk, ak := s.keys(k)
	pipe := s.rdb.Pipeline()
	t := pipe.HMGet(ctx, tk, "first", "pass", "exp")
	a := pipe.HMGet(ctx, ak, "n", "exp")
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Entry{}, s.err("status", err)
	}
	now := s.now().UnixMilli()
	var e Entry
	tv, av := int64s(t.Val()), int64s(a.Val())
	if tv[0] != 0 && now < tv[2] {
		e.FirstSeen, e.PassedAt, e.Expires = msTime(tv[0]), msTime(tv[1]), msTime(tv[2])
	}
	if now < av[1] {
		e.AWLCount, e.AWLExpires = int(av[0]), msTime(av[1])
	}
	return e, nil
}

// int64s reads HMGET values; missing or bad ones are 0.
func int64s(vals []any) []int64 {
	out := make([]int64, len(vals))
	for i, v := range vals {
		if str, ok := v.(string); ok {
			out[i], _ = strconv.ParseInt(str, 10, 64)
		}
	}
	return out
}

// Release marks the triplet passed now.
func (s *Redis) Release(ctx context.Context, k Key, p Params) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	p = p.WithDefaults()
	tk, _ := s.keys(k)
	if err := s.release.Run(ctx, s.rdb, []string{tk}, s.nowArg(), millis(p.PassTTL)).Err(); err != nil {
		return s.err("release", err)
	}
	return nil
}

// Ping checks that the server answers within Options.Timeout.
func (s *Redis) Ping(ctx context.Context) error {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return s.err("PING", err)
	}
	return nil
}

// Probe asks the server once, at start-up. A misconfiguration that no
// retry cures (TLS: a wrong tls_ca_file, a plain-text server) is err: the
// start must fail rather than fail open for good. Any other failure is
// down, for a warning: Redis may come up later, and on_store_error covers
// the checks until it does.
func (s *Redis) Probe(ctx context.Context) (down, err error) {
	perr := s.Ping(ctx)
	// A timeout may be a slow first TLS handshake on a loaded host (the
	// system CAs are read then): two more tries, bounded, before a wrong
	// CA could pass for an outage.
	for i := 0; i < 2 && errors.Is(perr, context.DeadlineExceeded) && ctx.Err() == nil; i++ {
		perr = s.Ping(ctx)
	}
	if bad := redisconn.Misconfigured(perr, s.o.conn()); bad != nil {
		return nil, fmt.Errorf("greylist redis store at %s: %w", s.where, bad)
	}
	if perr != nil && s.o.TLS && errors.Is(perr, context.DeadlineExceeded) {
		// A plain-text redis-server reads a TLS handshake as the start of
		// an inline command and waits for its end: no reply to tell.
		return fmt.Errorf("%w (with tls = true, a server that does not speak TLS looks like this too)", perr), nil
	}
	return perr, nil
}

// Close closes the connections.
func (s *Redis) Close() error {
	if err := s.rdb.Close(); err != nil {
		return s.err("close", err)
	}
	return nil
}

// errSlotMoving marks a check that failed only because a Redis Cluster
// slot was being migrated (TRYAGAIN past the store's timeout): one
// triplet's keys, for a moment, not all of Redis.
var errSlotMoving = errors.New("slot being migrated")

// sleepCtx waits d, or less if ctx ends first; false when it ended or
// would end before d is over.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
