package recipients

import (
	"fmt"
	"time"

	"github.com/maypok86/otter/v2"
)

// cacheSize bounds the cache: enough for every mailbox of a large site,
// small enough that a dictionary attack cannot grow it without limit.
const cacheSize = 100_000

// answerCache keeps LDAP answers, found and not found, each with its TTL.
// otter gives the size bound with a good eviction policy and per-entry
// expiry in one piece.
type answerCache struct {
	c        *otter.Cache[string, answer] // nil: nothing is cached
	pos, neg time.Duration                // <= 0: not cached
}

func newAnswerCache(pos, neg time.Duration) (*answerCache, error) {
	ac := &answerCache{pos: pos, neg: neg}
	if pos <= 0 && neg <= 0 {
		return ac, nil
	}
	c, err := otter.New(&otter.Options[string, answer]{
		MaximumSize: cacheSize,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, answer]) time.Duration {
			return ac.ttl(e.Value)
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("recipients: cache: %w", err)
	}
	ac.c = c
	return ac, nil
}

func (ac *answerCache) ttl(a answer) time.Duration {
	if a.dn != "" {
		return ac.pos
	}
	return ac.neg
}

func (ac *answerCache) get(key string) (answer, bool) {
	if ac.c == nil {
		return answer{}, false
	}
	return ac.c.GetIfPresent(key)
}

func (ac *answerCache) put(key string, a answer) {
	if ac.c != nil && ac.ttl(a) > 0 {
		ac.c.Set(key, a)
	}
}

func (ac *answerCache) close() {
	if ac.c != nil {
		ac.c.StopAllGoroutines()
	}
}
