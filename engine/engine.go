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
	"time"

	"spamgate/checks"
	"spamgate/config"
	"spamgate/dnsbl"
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
	internal []netip.Prefix
	spf      checks.SPFPolicy
	timeout  time.Duration
	stop     context.CancelFunc
}

// New builds an Engine. The resolver may be shared with other Engines.
func New(cfg *config.Config, r Resolver, log *slog.Logger) (*Engine, error) {
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

// Start begins the background work of the Engine (DNSBL health checks).
func (e *Engine) Start(ctx context.Context) {
	ctx, e.stop = context.WithCancel(ctx)
	if e.dnsbl != nil {
		go e.dnsbl.Monitor(ctx, e.cfg.DNSBL.HealthInterval.Duration)
	}
}

// Close stops the background work. Sessions still using the Engine go on.
func (e *Engine) Close() { e.stop() }

// Config returns the configuration the Engine was built from.
func (e *Engine) Config() *config.Config { return e.cfg }

// DNSBL returns the DNSBL checker, or nil (for health checks in tests and explain).
func (e *Engine) DNSBL() *dnsbl.Checker { return e.dnsbl }

// NeedsBody reports whether any check reads the message body; when none
// does, the milter asks Postfix not to send it.
func (e *Engine) NeedsBody() bool { return false }

func (e *Engine) isInternal(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range e.internal {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
