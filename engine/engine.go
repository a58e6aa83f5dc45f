// Package engine runs spamgate's checks for one SMTP session at a time. It is
// independent of the milter protocol: the milter adapter drives a Session from
// Postfix's callbacks, and `spamgate explain` drives the same Session from the
// command line, so a dry run tells the truth.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"time"

	"spamgate/admin/rulefile"
	"spamgate/checks"
	"spamgate/config"
	"spamgate/dkim"
	"spamgate/dkimkeys"
	"spamgate/dmarcreport"
	"spamgate/dnsbl"
	"spamgate/greylist"
	"spamgate/history"
	"spamgate/metrics"
	"spamgate/policy"
	"spamgate/policyredis"
	"spamgate/recipients"
	"spamgate/score"
	"spamgate/spamc"
	"spamgate/spf"
)

// Resolver is everything the checks ask of DNS (spamgate/dnsx.Resolver).
type Resolver interface {
	checks.Resolver
	spf.Resolver
}

// Engine holds one configuration generation: the checks built from it and
// the resolver they share. A reload builds a new Engine; sessions keep the
// one they started with.
type Engine struct {
	cfg      *config.Config
	log      *slog.Logger
	resolver Resolver
	dnsbl    *dnsbl.Checker // nil when disabled or without zones
	policy   *policy.Policy
	redis    *policyredis.Source  // nil without [policy.redis] addresses
	keys     KeySource            // DKIM signing keys; nil without any
	keyTable *dkimkeys.Table      // [dkim] keys_dir, or nil (also inside keys)
	arcKeys  []dkim.Key           // [[arc.key]] of [arc] sealer_domain
	history  *dmarcreport.History // nil without [dmarc] history_dir
	greylist *greylist.Checker
	glStore  greylist.Store
	// recipients validates the relay domains' recipients; nil without [recipients] domains.
	recipients *recipients.Validator
	spamd      *spamc.Client    // nil unless [score.spamd] is enabled
	metrics    *metrics.Metrics // nil-safe: no metrics
	decisions  history.Store    // the decision history; nil: off (UseHistory)
	exempt     tlsExempt
	internal   []netip.Prefix
	spf        checks.SPFPolicy
	timeout    time.Duration
	// scoreFields are the X-Spam-* fields to add ([score] header_fields).
	scoreFields score.FieldSet

	// adminRules is the [admin] rules_file source, changed live by the
	// admin console (taken over by reloads); nil without one.
	adminRules *rulefile.Store

	stop         context.CancelFunc // stops the DNSBL monitor
	stopOwn      context.CancelFunc // stops this engine's own background work
	monitoring   bool               // the monitor runs (started here or taken over)
	redisTaken   bool               // a newer engine uses this one's Redis source
	historyTaken bool               // … and this one's DMARC history
	glStoreTaken bool               // … and this one's greylist store
}

// New builds an Engine. The resolver may be shared with other Engines. When
// prev (the engine in force, or nil) has the same DNSBL configuration, its
// checker is taken over with the health it has learnt: a reload must not
// make every zone "unknown" (and so unused) again.
func New(cfg *config.Config, r Resolver, log *slog.Logger, prev *Engine) (*Engine, error) {
	internal, err := config.ParsePrefixes(cfg.Milter.InternalNetworks)
	if err != nil {
		return nil, fmt.Errorf("internal_networks: %w", err)
	}
	e := &Engine{
		cfg:      cfg,
		log:      log,
		resolver: r,
		internal: internal,
		spf:      checks.SPFPolicy{RejectFail: cfg.SPF.RejectFail, RejectErrors: cfg.SPF.RejectErrors},
		timeout:  cfg.Milter.CheckTimeout.Duration,
		stop:     func() {},
		stopOwn:  func() {},
		spamd:    spamdClient(cfg.Score),
	}
	if e.policy, _, err = LoadPolicy(cfg, log); err != nil {
		return nil, err
	}
	if e.scoreFields, err = score.ParseFieldSet(cfg.Score.HeaderFields); err != nil {
		return nil, fmt.Errorf("score.header_fields: %w", err)
	}
	if e.exempt, err = newTLSExempt(cfg.Policy); err != nil {
		return nil, err
	}
	if e.keys, e.keyTable, err = loadKeys(cfg.DKIM, log, prev); err != nil {
		return nil, err
	}
	if e.arcKeys, err = loadARCKeys(cfg.ARC); err != nil {
		return nil, err
	}
	if e.history, err = openHistory(cfg.DMARC, log, prev); err != nil {
		return nil, err
	}
	if e.redis, err = redisSource(cfg.Policy.Redis, prev); err != nil {
		return nil, err
	}
	if e.adminRules, err = adminRuleSource(cfg.Admin.RulesFile, prev); err != nil {
		return nil, err
	}
	if e.greylist, e.glStore, err = openGreylist(cfg, prev, log); err != nil {
		return nil, err
	}
	if e.recipients, err = NewRecipients(cfg.Recipients, log); err != nil {
		return nil, err
	}
	if prev != nil {
		e.UseMetrics(prev.metrics)
		e.decisions = prev.decisions
	}
	if prev != nil && prev.dnsbl != nil && prev.resolver == r && reflect.DeepEqual(prev.cfg.DNSBL, cfg.DNSBL) {
		e.dnsbl, e.stop, e.monitoring = prev.dnsbl, prev.stop, prev.monitoring
		prev.stop = func() {}
		return e, nil
	}
	if cfg.DNSBL.Enabled && len(cfg.DNSBL.Zones) > 0 {
		zones := make([]dnsbl.ZoneConfig, len(cfg.DNSBL.Zones))
		for i, z := range cfg.DNSBL.Zones {
			zones[i] = dnsbl.ZoneConfig{Name: z.Name, Weight: z.Weight, Codes: z.Codes}
		}
		if e.dnsbl, err = dnsbl.New(zones, r, log); err != nil {
			return nil, fmt.Errorf("dnsbl: %w", err)
		}
	}
	return e, nil
}

// Start begins the background work of the Engine (DNSBL health checks),
// unless it took that over from the previous engine.
func (e *Engine) Start(ctx context.Context) {
	own, cancel := context.WithCancel(ctx)
	e.stopOwn = cancel
	go e.greylist.Start(own)
	e.watchKeys(own)
	if e.recipients != nil {
		go e.recipients.Watch(own, e.cfg.Policy.WatchInterval.Duration)
	}
	if e.dnsbl == nil || e.monitoring {
		return
	}
	ctx, e.stop = context.WithCancel(ctx)
	e.monitoring = true
	go e.dnsbl.Monitor(ctx, e.cfg.DNSBL.HealthInterval.Duration)
}

// Close stops the background work. Sessions still using the Engine go on;
// a Redis source a newer engine took over stays open.
func (e *Engine) Close() {
	e.stop()
	e.stopOwn()
	if e.recipients != nil {
		e.recipients.Close()
	}
	if e.glStore != nil && !e.glStoreTaken {
		e.glStore.Close()
	}
	if e.redis != nil && !e.redisTaken {
		e.redis.Close()
	}
	if e.history != nil && !e.historyTaken {
		e.history.Close()
	}
}

// openHistory opens the DMARC history, or takes over the previous
// engine's when the directory is the same (its retention stays what it
// was until a restart).
func openHistory(c config.DMARC, log *slog.Logger, prev *Engine) (*dmarcreport.History, error) {
	dir := c.HistoryDir
	if dir == "" {
		return nil, nil
	}
	if prev != nil && prev.history != nil && prev.cfg.DMARC.HistoryDir == dir {
		prev.historyTaken = true
		return prev.history, nil
	}
	h, err := dmarcreport.OpenHistoryWith(dir, dmarcreport.HistoryOptions{Days: c.HistoryDays, Log: log.With("check", "dmarc_history")})
	if err != nil {
		return nil, fmt.Errorf("dmarc history_dir: %w", err)
	}
	return h, nil
}

// Config returns the configuration the Engine was built from.
func (e *Engine) Config() *config.Config { return e.cfg }

// DNSBL returns the DNSBL checker, or nil (for health checks in tests and explain).
func (e *Engine) DNSBL() *dnsbl.Checker { return e.dnsbl }

// NeedsBody reports whether any check reads the message body (DKIM
// verification or signing); when none does, the milter asks Postfix not to
// send it.
func (e *Engine) NeedsBody() bool { return e.cfg.DKIM.Enabled || e.keys != nil || e.spamd != nil }

// UseMetrics makes the engine, and the engines reloads build from it,
// record into m.
func (e *Engine) UseMetrics(m *metrics.Metrics) {
	e.metrics = m
	e.registerKeyMetrics(m)
	if h := e.history; h != nil {
		m.RegisterDMARCHistory(func() metrics.DMARCHistoryStats { return metrics.DMARCHistoryStats(h.Stats()) })
	}
}

// Metrics returns the metrics the engine records into, or nil.
func (e *Engine) Metrics() *metrics.Metrics { return e.metrics }

// Greylist returns the greylist checker (for health checks).
func (e *Engine) Greylist() *greylist.Checker { return e.greylist }

// GreylistStore returns the greylist store, or nil (for its statistics).
func (e *Engine) GreylistStore() greylist.Store { return e.glStore }

// Recipients returns the recipient validator, or nil.
func (e *Engine) Recipients() *recipients.Validator { return e.recipients }

func (e *Engine) isInternal(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range e.internal {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// AdminRules returns the admin rule source ([admin] rules_file), or nil.
func (e *Engine) AdminRules() *rulefile.Store { return e.adminRules }

// RedisPolicy returns the [policy.redis] rule source, or nil.
func (e *Engine) RedisPolicy() *policyredis.Source { return e.redis }

// Policy returns the per-recipient policy in force.
func (e *Engine) Policy() *policy.Policy { return e.policy }

// timed records how long a check took since t0: `defer e.timed("spf", time.Now())`.
func (e *Engine) timed(check string, t0 time.Time) { e.metrics.CheckDuration(check, time.Since(t0)) }
