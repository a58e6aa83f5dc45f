// Package daemon runs spamgate: it builds the engine from a configuration,
// serves the milter, reloads atomically and drains on shutdown. cmd/spamgate
// only parses flags and signals and calls it; tests start it directly.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"reflect"
	"sync"
	"sync/atomic"

	"spamgate/admin"
	"spamgate/config"
	"spamgate/dnsx"
	"spamgate/engine"
	"spamgate/history"
	"spamgate/metrics"
	"spamgate/milter"
	"spamgate/policy"
)

// Daemon is a running spamgate.
type Daemon struct {
	log    *slog.Logger
	level  *slog.LevelVar
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex // serializes reloads
	cfg      *config.Config
	resolver *dnsx.Resolver
	engine   atomic.Pointer[engine.Engine]

	ln     net.Listener
	srv    *milter.Server
	served chan error

	stopOnce sync.Once
	stopErr  error

	stopWatch context.CancelFunc // stops the table-file watcher of the configuration in force

	tlsMap  *tlsPolicyMap  // nil unless [tls_policy_map] enabled
	admin   *admin.Running // nil unless [admin] listen is set
	metrics *metrics.Metrics
	history history.Store // the decision history, kept across reloads; nil: off
}

// Start builds everything from cfg and starts serving. level, when not nil,
// is updated on reload so that [log] level takes effect without a restart.
func Start(cfg *config.Config, log *slog.Logger, level *slog.LevelVar) (*Daemon, error) {
	ctx, cancel := context.WithCancel(context.Background())
	d := &Daemon{log: log, level: level, ctx: ctx, cancel: cancel, cfg: cfg, served: make(chan error, 1)}
	eng, res, err := NewEngine(cfg, log)
	if err != nil {
		cancel()
		return nil, err
	}
	d.resolver = res
	eng.Start(ctx)
	d.engine.Store(eng)
	if err := d.startMetrics(cfg); err != nil {
		eng.Close()
		cancel()
		return nil, err
	}
	// Before the first session, so that every session records.
	d.startHistory(cfg)
	perm, _ := cfg.Milter.SocketPerm() // validated by config
	ln, err := milter.Listen(cfg.Milter.Listen, os.FileMode(perm))
	if err != nil {
		d.stopHistory()
		eng.Close()
		cancel()
		return nil, err
	}
	d.ln = ln
	d.srv = milter.NewServer(milter.Options{Engine: d.engine.Load, Log: log, IdleTimeout: cfg.Milter.IdleTimeout.Duration,
		MaxSessions: cfg.Milter.MaxSessions, MaxSessionTime: cfg.Milter.MaxSessionTime.Duration,
		NegotiateTimeout: cfg.Milter.NegotiateTimeout.Duration, MaxUnnegotiated: cfg.Milter.MaxUnnegotiated,
		MaxSessionsPerPeer: cfg.Milter.MaxSessionsPerPeer, Registerer: d.metrics.Registry()})
	go func() { d.served <- d.srv.Serve(ln) }()
	if err := d.startTLSPolicyMap(cfg); err != nil {
		d.Shutdown(context.Background())
		return nil, err
	}
	if err := d.startAdmin(cfg); err != nil {
		d.Shutdown(context.Background())
		return nil, err
	}
	d.watchTables(cfg)
	log.Info("spamgate started", "listen", cfg.Milter.Listen, "addr", ln.Addr().String(), "config", cfg.File,
		"authserv_id", cfg.Milter.AuthservID)
	return d, nil
}

// NewEngine builds the resolver and the engine for cfg: what serve runs and
// what explain runs, so that a dry run tells the truth.
func NewEngine(cfg *config.Config, log *slog.Logger) (*engine.Engine, *dnsx.Resolver, error) {
	res, err := newResolver(cfg.DNS)
	if err != nil {
		return nil, nil, err
	}
	eng, err := engine.New(cfg, res, log, nil)
	if err != nil {
		return nil, nil, err
	}
	return eng, res, nil
}

func newResolver(c config.DNS) (*dnsx.Resolver, error) {
	r, err := dnsx.New(dnsx.Config{
		Nameservers:    c.Nameservers,
		Timeout:        c.Timeout.Duration,
		CacheBytes:     c.CacheBytes,
		CacheSize:      c.CacheSize,
		MaxAnswerBytes: c.CacheMaxAnswerBytes,
		MaxInflight:    c.MaxInflight,
	})
	if err != nil {
		return nil, fmt.Errorf("dns resolver: %w", err)
	}
	return r, nil
}

// Addr is the address the milter listens on (useful with port 0 in tests).
func (d *Daemon) Addr() net.Addr { return d.ln.Addr() }

// Engine returns the engine new sessions use.
func (d *Daemon) Engine() *engine.Engine { return d.engine.Load() }

// Config returns the configuration in force: the engine's, so that a reader
// never waits for a reload in progress (the TLS policy map asks on every
// outbound delivery).
func (d *Daemon) Config() *config.Config { return d.engine.Load().Config() }

// Reload reads the configuration file again. A broken file changes nothing:
// the error is returned (and logged) and the old configuration stays. Sessions
// in flight finish with the engine they started with.
func (d *Daemon) Reload() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cfg.File == "" {
		return errors.New("reload: running on built-in defaults, there is no file to reload")
	}
	cfg, err := config.Load(d.cfg.File)
	if err != nil {
		d.log.Error("reload failed, keeping the configuration in force", "error", err)
		d.metrics.ConfigReload(false)
		return err
	}
	if cfg.Metrics != d.cfg.Metrics {
		d.log.Warn("[metrics] listen changed: takes effect after a restart")
	}
	if cfg.Milter.Listen != d.cfg.Milter.Listen || cfg.Milter.SocketMode != d.cfg.Milter.SocketMode {
		d.log.Warn("milter listen address or socket mode changed: takes effect after a restart")
	}
	d.warnHistoryReload(cfg)
	if !reflect.DeepEqual(cfg.TLSPolicyMap, d.cfg.TLSPolicyMap) {
		d.log.Warn("[tls_policy_map] changed: its listener, MTA-STS and DANE settings take effect after a restart; its nexthop entries now")
	}
	if err := d.apply(cfg); err != nil {
		d.metrics.ConfigReload(false)
		return err
	}
	d.metrics.ConfigReload(true)
	d.log.Info("configuration reloaded", "config", cfg.File)
	return nil
}

// reloadTables rebuilds the engine from the configuration in force when a
// policy table changed: the configuration file is not read again (an admin
// may be in the middle of editing it).
func (d *Daemon) reloadTables() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.apply(d.cfg); err != nil {
		return err
	}
	d.log.Info("policy tables reloaded", "tables", d.cfg.Policy.Tables, "rules", d.engine.Load().Policy().Len())
	return nil
}

// apply builds a new engine for cfg and swaps it in; d.mu is held.
func (d *Daemon) apply(cfg *config.Config) error {
	res := d.resolver
	if !reflect.DeepEqual(cfg.DNS, d.cfg.DNS) {
		var err error
		if res, err = newResolver(cfg.DNS); err != nil {
			d.log.Error("reload failed, keeping the configuration in force", "error", err)
			return err
		}
	}
	eng, err := engine.New(cfg, res, d.log, d.engine.Load())
	if err != nil {
		d.log.Error("reload failed, keeping the configuration in force", "error", err)
		return err
	}
	eng.Start(d.ctx)
	old := d.engine.Swap(eng)
	old.Close()
	watch := !reflect.DeepEqual(cfg.Policy.Tables, d.cfg.Policy.Tables) || cfg.Policy.WatchInterval != d.cfg.Policy.WatchInterval
	d.cfg, d.resolver = cfg, res
	if watch {
		d.watchTables(cfg)
	}
	if d.level != nil {
		d.level.Set(ParseLevel(cfg.Log.Level))
	}
	return nil
}

// watchTables reloads when a policy table file changes: hosting panels
// rewrite them, and the change must take effect without a restart. The
// reload is the same as SIGHUP's, so a broken table keeps the old policy.
func (d *Daemon) watchTables(cfg *config.Config) {
	if d.stopWatch != nil {
		d.stopWatch()
	}
	ctx, cancel := context.WithCancel(d.ctx)
	d.stopWatch = cancel
	if len(cfg.Policy.Tables) == 0 {
		return
	}
	go policy.Watch(ctx, cfg.Policy.Tables, cfg.Policy.WatchInterval.Duration, func() {
		d.log.Info("policy table changed, reloading", "tables", cfg.Policy.Tables)
		_ = d.reloadTables() // logged; a broken table keeps the policy in force
	})
}

// Shutdown stops accepting and drains sessions until ctx ends. Calls after
// the first return the first one's result.
func (d *Daemon) Shutdown(ctx context.Context) error {
	d.stopOnce.Do(func() {
		err := d.srv.Shutdown(ctx)
		if d.tlsMap != nil {
			if merr := d.tlsMap.shutdown(ctx); err == nil {
				err = merr
			}
		}
		if aerr := d.stopAdmin(ctx); err == nil {
			err = aerr
		}
		d.engine.Load().Close()
		d.stopHistory()
		d.cancel()
		if serr := <-d.served; serr != nil && err == nil {
			err = serr
		}
		d.stopErr = err
		d.log.Info("spamgate stopped")
	})
	return d.stopErr
}

// Done delivers the error of the accept loop if it stops on its own (the
// listener broke); the caller should then exit.
func (d *Daemon) Done() <-chan error { return d.served }

// NewLogger builds the slog logger [log] asks for, writing to w.
func NewLogger(c config.Log, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	level.Set(ParseLevel(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), level
	}
	return slog.New(slog.NewTextHandler(w, opts)), level
}

// ParseLevel maps a validated [log] level to slog's.
func ParseLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
