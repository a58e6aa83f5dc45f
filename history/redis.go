package history

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"spamgate/redisconn"
)

// Defaults of RedisOptions.
const (
	DefaultKeyPrefix = "spamgate:history:"
	// DefaultRedisTimeout bounds one call: the writer is off the mail
	// path, so it may wait longer than a lookup would.
	DefaultRedisTimeout = time.Second
	// recordBytesGuess is the size of an encoded record before the writer
	// has measured any (a transaction with two recipients is 450-600).
	recordBytesGuess = 512
	// readChunk is how many records one LRANGE of a query fetches.
	readChunk = 500
)

// RedisOptions configure the shared store.
type RedisOptions struct {
	Conn      redisconn.Options // Timeout bounds each call; default DefaultRedisTimeout
	KeyPrefix string            // default DefaultKeyPrefix
	Days      int
	MaxBytes  int64
	QueueLen  int
	Log       *slog.Logger
	Now       func() time.Time
}

// RedisStore keeps the history in Redis: one list per UTC day,
// PREFIX + "YYYYMMDD", each element an encoded record (the file store's
// line), appended with RPUSH by every MX host. Each list expires a day
// after history_days, and is trimmed (oldest first) to its share of
// history_max_bytes: MaxBytes / Days, counted in records of the average
// size this host writes.
type RedisStore struct {
	reader
	o   RedisOptions
	rdb redis.UniversalClient
	q   *queue

	avgBytes                     atomic.Int64 // mean encoded record, measured
	corrupt, trimmed             atomic.Uint64
	lastErrLogged                atomic.Bool
	encodedBytes, encodedRecords int64 // writer's own running sums
}

// OpenRedis makes the store; it does not connect (Redis may come later:
// records are dropped and counted meanwhile).
func OpenRedis(o RedisOptions) (*RedisStore, error) {
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.Conn.Timeout == 0 {
		o.Conn.Timeout = DefaultRedisTimeout
	}
	if o.Conn.ClientName == "" {
		o.Conn.ClientName = "spamgate-history"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Days < 1 {
		o.Days = 1
	}
	rdb, err := redisconn.New(o.Conn)
	if err != nil {
		return nil, fmt.Errorf("history redis: %w", err)
	}
	s := &RedisStore{o: o, rdb: rdb}
	s.reader = reader{src: s, now: o.Now, days: o.Days}
	s.avgBytes.Store(recordBytesGuess)
	s.q = newQueue(o.QueueLen, s, o.Now)
	return s, nil
}

func (s *RedisStore) dayKey(t time.Time) string {
	return s.o.KeyPrefix + t.UTC().Format("20060102")
}

// perDay is how many records one day's list keeps.
func (s *RedisStore) perDay() int64 {
	return max(s.o.MaxBytes/int64(s.o.Days)/max(s.avgBytes.Load(), 1), 100)
}

// Add implements Store.
func (s *RedisStore) Add(r Record) { s.q.add(r) }

// Sync waits until every record added before the call is written (or dropped).
func (s *RedisStore) Sync() { s.q.sync() }

// Close writes what is queued and closes the client.
func (s *RedisStore) Close() error {
	s.q.close()
	if err := s.rdb.Close(); err != nil {
		return fmt.Errorf("history redis: %w", err)
	}
	return nil
}

// Counters returns the store's statistics (SizeBytes is unknown: -1).
func (s *RedisStore) Counters() Counters {
	c := Counters{SizeBytes: -1}
	s.q.counters(&c)
	c.Corrupt, c.RemovedSize = s.corrupt.Load(), s.trimmed.Load()
	return c
}

// write pushes a batch in one pipeline (the writer goroutine).
func (s *RedisStore) write(batch []Record) (failed int) {
	byDay := map[string][]any{}
	var keys []string
	var buf []byte
	for i := range batch {
		var err error
		start := len(buf)
		if buf, err = appendLine(buf, &batch[i]); err != nil {
			failed++
			continue
		}
		line := buf[start : len(buf)-1] // without the newline
		k := s.dayKey(batch[i].Time)
		if _, ok := byDay[k]; !ok {
			keys = append(keys, k)
		}
		byDay[k] = append(byDay[k], string(line))
		s.encodedBytes += int64(len(line))
		s.encodedRecords++
	}
	if s.encodedRecords > 0 {
		s.avgBytes.Store(max(s.encodedBytes/s.encodedRecords, 64))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*s.o.Conn.Timeout)
	defer cancel()
	ttl := time.Duration(s.o.Days+1) * 24 * time.Hour
	keep := s.perDay()
	lens := make([]*redis.IntCmd, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			lens[i] = p.RPush(ctx, k, byDay[k]...)
			p.LTrim(ctx, k, -keep, -1)
			p.Expire(ctx, k, ttl)
		}
		return nil
	})
	if err != nil {
		if s.lastErrLogged.CompareAndSwap(false, true) {
			s.o.Log.Warn("decision history: Redis write failed, records are dropped until it works again (mail is not affected)",
				"error", err.Error())
		}
		return len(batch)
	}
	if s.lastErrLogged.CompareAndSwap(true, false) {
		s.o.Log.Info("decision history: Redis writes again")
	}
	for _, l := range lens {
		if n := l.Val(); n > keep {
			s.trimmed.Add(uint64(n - keep))
		}
	}
	return failed
}

// tick: Redis expires the lists itself.
func (s *RedisStore) tick(time.Time) {}

// scan reads the day lists newest first, each from its end backwards in
// chunks. Positions are taken from the length at the start of a day's
// read: appends by other hosts meanwhile do not shift them (a trim would,
// and may make a chunk repeat or skip a few records).
func (s *RedisStore) scan(ctx context.Context, from time.Time, pre func([]byte) bool, visit func(*Record) bool) error {
	day := s.o.Now().UTC().Truncate(24 * time.Hour)
	first := from.UTC().Truncate(24 * time.Hour)
	for ; !day.Before(first); day = day.Add(-24 * time.Hour) {
		more, err := s.scanDay(ctx, s.dayKey(day), from, pre, visit)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// scanDay visits one day's list; more is false when visit stopped.
func (s *RedisStore) scanDay(ctx context.Context, key string, from time.Time, pre func([]byte) bool, visit func(*Record) bool) (more bool, err error) {
	n, err := s.rdb.LLen(ctx, key).Result()
	if err != nil {
		return false, fmt.Errorf("history redis: %w", err)
	}
	bad := 0
	defer func() {
		if bad > 0 {
			s.corrupt.Add(uint64(bad))
			s.o.Log.Warn("decision history: damaged records skipped", "key", key, "records", bad)
		}
	}()
	for end := n - 1; end >= 0; end -= readChunk {
		vals, err := s.rdb.LRange(ctx, key, max(end-readChunk+1, 0), end).Result()
		if err != nil {
			return false, fmt.Errorf("history redis: %w", err)
		}
		for i := len(vals) - 1; i >= 0; i-- {
			line := []byte(vals[i])
			if pre != nil && len(line) > 9 && !pre(line[9:]) {
				continue
			}
			r, err := decodeLine(line)
			if err != nil {
				bad++
				continue
			}
			if r.Time.Before(from) {
				continue
			}
			if !visit(&r) {
				return false, nil
			}
		}
	}
	return true, nil
}

// Ping checks that Redis answers (for /healthz and start-up logs).
func (s *RedisStore) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("history redis: %w", err)
	}
	return nil
}
