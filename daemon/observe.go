package daemon

import (
	"context"
	"fmt"
	"time"

	"spamgate/config"
	"spamgate/dnsx"
	"spamgate/greylist"
	"spamgate/metrics"
)

// startMetrics makes the engine record into d.metrics and, when [metrics]
// listen is set, serves /metrics and /healthz there.
func (d *Daemon) startMetrics(cfg *config.Config) error {
	d.metrics = metrics.New()
	d.metrics.RegisterDNS(func() metrics.DNSStats {
		return dnsStats(d.engineResolver())
	})
	d.metrics.RegisterStores(d.storeStats)
	d.engine.Load().UseMetrics(d.metrics)
	if cfg.Metrics.Listen == "" {
		return nil
	}
	_, addr, err := config.ParseListen(cfg.Metrics.Listen)
	if err != nil {
		return fmt.Errorf("metrics.listen: %w", err)
	}
	return d.metrics.Serve(d.ctx, addr, d.Health, d.log)
}

func (d *Daemon) engineResolver() *dnsx.Resolver {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.resolver
}

// Health reports each component's health for /healthz: the resolver
// (it answers, even NXDOMAIN), the greylist store and LDAP.
func (d *Daemon) Health(ctx context.Context) map[string]error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	eng := d.engine.Load()
	out := map[string]error{"dns": nil, "greylist": eng.Greylist().Healthy()}
	if _, err := d.engineResolver().LookupTXT(ctx, "healthz.spamgate.invalid"); err != nil && !dnsx.IsNotFound(err) {
		out["dns"] = err
	}
	if r := eng.Recipients(); r != nil {
		out["ldap"] = r.Healthy(ctx)
	}
	return out
}

func dnsStats(r *dnsx.Resolver) metrics.DNSStats {
	return metrics.DNSStats(r.Stats()) // the same fields, one for one
}

// storeStats reads the bounded stores of the engine and the TLS policy map
// in force, at scrape time.
func (d *Daemon) storeStats() metrics.StoreStats {
	var s metrics.StoreStats
	eng := d.engine.Load()
	if g := eng.Greylist(); g != nil {
		s.GreylistBreakerOpenings = g.BreakerOpenings()
	}
	if m, ok := eng.GreylistStore().(*greylist.Memory); ok {
		g := m.Stats()
		s.HasGreylistMemory = true
		s.GreylistTriplets, s.GreylistWhitelist = uint64(g.Triplets), uint64(g.AWL)
		s.GreylistEvictedWaiting, s.GreylistEvictedPassed, s.GreylistEvictedWhitelist = g.EvictedWaiting, g.EvictedPassed, g.EvictedAWL
	}
	if r := eng.Recipients(); r != nil {
		l := r.Stats()
		s.HasLDAP = true
		s.LDAPQueries, s.LDAPRateLimited, s.LDAPClientWaits = uint64(l.Queries), uint64(l.RateLimited), uint64(l.ClientWaits)
	}
	d.mu.Lock()
	t := d.tlsMap
	d.mu.Unlock()
	if t != nil && t.mtasts != nil {
		m := t.mtasts.Stats()
		s.HasMTASTS = true
		s.MTASTSFetchesRefused, s.MTASTSEvicted, s.MTASTSTrimmed = uint64(m.FetchesRefused), uint64(m.Evicted), uint64(m.PatternsTrimmed)
	}
	return s
}
