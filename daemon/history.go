package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"

	"spamgate/config"
	"spamgate/history"
	"spamgate/redisconn"
)

// OpenHistory builds the decision history [admin] history_store asks for:
// nil, nil when it is "off". The daemon owns it across reloads (sessions
// of every engine generation write to it) and closes it at shutdown.
func OpenHistory(a config.Admin, log *slog.Logger) (history.Store, error) {
	log = log.With("component", "history")
	switch a.HistoryStore {
	case "file":
		st, err := history.OpenFile(history.FileOptions{Dir: a.HistoryDir, Days: a.HistoryDays, MaxBytes: a.HistoryMaxBytes, Log: log})
		if err != nil {
			return nil, err
		}
		return st, nil
	case "redis":
		r := a.HistoryRedis
		o := redisconn.Options{Addresses: r.Addresses, MasterName: r.MasterName, Cluster: r.Cluster, DB: r.DB,
			TLS: r.TLS, TLSCAFile: r.TLSCAFile, Timeout: r.Timeout.Duration}
		if r.PasswordFile != "" {
			var err error
			if o.Password, err = config.ReadSecret(r.PasswordFile); err != nil {
				return nil, fmt.Errorf("admin.history_redis.password_file: %w", err)
			}
		}
		st, err := history.OpenRedis(history.RedisOptions{Conn: o, KeyPrefix: r.KeyPrefix, Days: a.HistoryDays,
			MaxBytes: a.HistoryMaxBytes, Log: log})
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	return nil, nil
}

// HistoryWarning is what check-config says about the decision history
// when it cannot work as configured (the daemon then runs without it), or
// "". It creates nothing.
func HistoryWarning(a config.Admin) string {
	if a.HistoryStore != "file" {
		return ""
	}
	dir := a.HistoryDir
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		dir = filepath.Dir(dir) // the daemon makes the last component only
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return fmt.Sprintf("admin.history_dir %s: %s is missing or not a directory: spamgate will run without a decision history", a.HistoryDir, dir)
	}
	return ""
}

// startHistory opens the decision history and gives it to the engine in
// force before any session starts. A history that cannot be opened is
// logged and left off: it must never keep mail from flowing.
func (d *Daemon) startHistory(cfg *config.Config) {
	st, err := OpenHistory(cfg.Admin, d.log)
	if err != nil {
		d.log.Warn("decision history off: it cannot be opened (mail flows without it)", "store", cfg.Admin.HistoryStore, "error", err.Error())
		return
	}
	if st == nil {
		return
	}
	d.history = st
	d.engine.Load().UseHistory(st)
	if c, ok := st.(history.Counted); ok && d.metrics != nil {
		d.metrics.Registry().MustRegister(history.NewCollector(c))
	}
	d.log.Info("decision history on", "store", cfg.Admin.HistoryStore, "days", cfg.Admin.HistoryDays,
		"max_bytes", cfg.Admin.HistoryMaxBytes)
}

// stopHistory writes what is queued and closes the history; sessions are
// drained by then.
func (d *Daemon) stopHistory() {
	if d.history == nil {
		return
	}
	if err := d.history.Close(); err != nil {
		d.log.Warn("decision history close", "error", err.Error())
	}
}

// History returns the decision history, or nil when it is off.
func (d *Daemon) History() history.Store { return d.history }

// warnHistoryReload: the store is opened once; a reload keeps it.
func (d *Daemon) warnHistoryReload(cfg *config.Config) {
	keep := func(a config.Admin) config.Admin {
		return config.Admin{HistoryStore: a.HistoryStore, HistoryDays: a.HistoryDays, HistoryDir: a.HistoryDir,
			HistoryMaxBytes: a.HistoryMaxBytes, HistoryRedis: a.HistoryRedis}
	}
	if !reflect.DeepEqual(keep(cfg.Admin), keep(d.cfg.Admin)) {
		d.log.Warn("[admin] history_* changed: takes effect after a restart")
	}
}
