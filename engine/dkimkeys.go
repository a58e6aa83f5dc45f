package engine

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"spamgate/config"
	"spamgate/dkim"
	"spamgate/dkimkeys"
	"spamgate/metrics"
)

// KeySource gives the DKIM keys that sign outbound mail of a domain, from
// memory: it is asked once per outbound message, and a hosting table has
// tens of thousands of keys. nil without keys.
type KeySource interface {
	Keys(domain string) []dkim.Key
}

// staticKeys are the [[dkim.key]] entries, by lower-case domain.
type staticKeys map[string][]dkim.Key

func (s staticKeys) Keys(domain string) []dkim.Key {
	return s[strings.ToLower(strings.TrimSuffix(domain, "."))]
}

// layeredKeys asks the [[dkim.key]] entries first, then the key table.
type layeredKeys struct {
	static staticKeys
	table  *dkimkeys.Table
}

func (l layeredKeys) Keys(domain string) []dkim.Key {
	if k := l.static.Keys(domain); k != nil {
		return k
	}
	return l.table.Keys(domain)
}

// loadKeys reads the [[dkim.key]] keys (a key file others can read is an
// error: dkim.LoadKey says which and why) and the [dkim] keys_dir table.
// The previous engine's table of the same directory is taken over and
// reloaded (a SIGHUP), so that a reload parses only the files that
// changed and a broken one keeps its domain's keys.
func loadKeys(c config.DKIM, log *slog.Logger, prev *Engine) (KeySource, *dkimkeys.Table, error) {
	static := staticKeys{}
	for _, k := range c.Keys {
		key, err := dkim.LoadKey(k.File, k.Domain, k.Selector)
		if err != nil {
			return nil, nil, fmt.Errorf("dkim key %s for %s: %w", k.Selector, k.Domain, err)
		}
		d := strings.ToLower(strings.TrimSuffix(k.Domain, "."))
		static[d] = append(static[d], key)
	}
	if c.KeysDir == "" {
		if len(static) == 0 {
			return nil, nil, nil
		}
		return static, nil, nil
	}
	var table *dkimkeys.Table
	if prev != nil && prev.keyTable != nil && prev.keyTable.Dir() == c.KeysDir {
		table = prev.keyTable
		_ = table.Reload() // logged with the files; the table in force stays
	} else {
		var err error
		if table, err = dkimkeys.Open(c.KeysDir, log.With("check", "dkim_keys")); err != nil {
			return nil, nil, err
		}
	}
	return layeredKeys{static, table}, table, nil
}

// watchKeys polls the key table until ctx ends ([dkim] keys_watch_interval).
func (e *Engine) watchKeys(ctx context.Context) {
	if e.keyTable != nil {
		go e.keyTable.Watch(ctx, e.cfg.DKIM.KeysWatchInterval.Duration)
	}
}

// registerKeyMetrics exports the key table's figures, if there is one.
func (e *Engine) registerKeyMetrics(m *metrics.Metrics) {
	if t := e.keyTable; t != nil {
		m.RegisterDKIMKeys(func() metrics.DKIMKeyStats {
			s := t.Stats()
			return metrics.DKIMKeyStats{Domains: s.Domains, Keys: s.Keys, Active: s.Active, Broken: s.Broken,
				Reloads: s.Reloads, ReloadErrors: s.ReloadErrors, LastScan: s.LastScan}
		})
	}
}

// KeyTable returns the [dkim] keys_dir table, or nil.
func (e *Engine) KeyTable() *dkimkeys.Table { return e.keyTable }
