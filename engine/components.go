package engine

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"

	"spamgate/config"
	"spamgate/greylist"
	"spamgate/recipients"
	"spamgate/spamc"
)

// greylistStoreConfig is what decides whether a reload may keep the
// greylist store: the same settings mean the same store, and the memory
// store's state must survive a reload.
type greylistStoreConfig struct {
	Store string
	File  string
	Redis config.GreylistRedis
}

func storeConfig(c config.Greylist) greylistStoreConfig {
	r := c.Redis
	// The breaker belongs to the checker, made anew on each reload.
	r.BreakerFailures, r.BreakerOpen = 0, config.Duration{}
	return greylistStoreConfig{Store: c.Store, File: c.File, Redis: r}
}

// openGreylist builds the greylist checker over the store of the engine
// in force when its settings did not change, or over a new store.
func openGreylist(cfg *config.Config, prev *Engine, log *slog.Logger) (*greylist.Checker, greylist.Store, error) {
	g := cfg.Greylist
	var store greylist.Store
	if prev != nil && prev.glStore != nil && reflect.DeepEqual(storeConfig(prev.cfg.Greylist), storeConfig(g)) {
		store = prev.glStore
		prev.glStoreTaken = true
		if m, ok := store.(*greylist.Memory); ok { // caps are reloadable; the state stays
			m.SetLimits(g.MaxEntries, g.MaxWhitelist)
		}
	} else {
		var err error
		if store, err = NewGreylistStore(g); err != nil {
			return nil, nil, err
		}
		if err := probeGreylistStore(store, log); err != nil {
			return nil, nil, err
		}
	}
	networks, err := config.ParsePrefixes(g.WhitelistNetworks)
	if err != nil {
		return nil, nil, fmt.Errorf("greylist.whitelist_networks: %w", err)
	}
	o := greylist.CheckerOptions{
		Params: greylist.Params{Delay: g.Delay.Duration, RetryWindow: g.RetryWindow.Duration, PassTTL: g.PassTTL.Duration,
			AWLCount: g.AWLCount, AWLTTL: g.AWLTTL.Duration, IPv4Bits: g.IPv4Prefix, IPv6Bits: g.IPv6Prefix},
		Networks: networks, SenderDomains: g.WhitelistSenderDomains, RecipientDomains: g.WhitelistRecipientDomains,
		Timeout: g.Timeout.Duration,
		Breaker: greylist.BreakerOptions{Failures: g.Redis.BreakerFailures, OpenFor: g.Redis.BreakerOpen.Duration},
	}
	if _, remote := store.(*greylist.Redis); remote {
		o.PassCache = greylist.DefaultPassCache // a repeat sender costs no round trip
	}
	return greylist.NewChecker(store, o, log.With("check", "greylist")), store, nil
}

// probeGreylistStore asks a new Redis store once: a TLS misconfiguration
// stops the start (or the reload) with an error naming it; Redis being
// down is only logged, since on_store_error covers the checks meanwhile.
func probeGreylistStore(store greylist.Store, log *slog.Logger) error {
	rs, ok := store.(*greylist.Redis)
	if !ok {
		return nil
	}
	down, err := rs.Probe(context.Background())
	if err != nil {
		_ = rs.Close()
		return err
	}
	if down != nil {
		log.Warn("greylist store not answering at start; on_store_error applies until it does", slog.String("error", down.Error()))
	}
	return nil
}

// NewGreylistStore opens the store [greylist] names (also for the
// `spamgate greylist` admin commands).
func NewGreylistStore(g config.Greylist) (greylist.Store, error) {
	if g.Store == "memory" {
		s, err := greylist.NewMemory(greylist.MemoryOptions{File: g.File, MaxTriplets: g.MaxEntries,
			MaxAWL: g.MaxWhitelist, SaveInterval: g.SaveInterval.Duration})
		if err != nil {
			return nil, fmt.Errorf("greylist memory store: %w", err)
		}
		return s, nil
	}
	r := g.Redis
	o := greylist.RedisOptions{Addresses: r.Addresses, MasterName: r.MasterName, Cluster: r.Cluster, DB: r.DB,
		KeyPrefix: r.KeyPrefix, TLS: r.TLS, TLSCAFile: r.TLSCAFile, Timeout: g.Timeout.Duration}
	if r.PasswordFile != "" {
		var err error
		if o.Password, err = config.ReadSecret(r.PasswordFile); err != nil {
			return nil, fmt.Errorf("greylist.redis.password_file: %w", err)
		}
	}
	s, err := greylist.NewRedis(o)
	if err != nil {
		return nil, fmt.Errorf("greylist redis store: %w", err)
	}
	return s, nil
}

// NewRecipients builds the recipient validator, or nil without
// [recipients] domains (also for `spamgate recipients check`).
func NewRecipients(c config.Recipients, log *slog.Logger) (*recipients.Validator, error) {
	if len(c.Domains) == 0 {
		return nil, nil
	}
	o := recipients.Options{Domains: c.Domains, Table: c.Table}
	if l := c.LDAP; l.URL != "" {
		lo := &recipients.LDAPOptions{URL: l.URL, StartTLS: l.StartTLS, CAFile: l.CAFile,
			InsecureSkipVerify: l.InsecureSkipVerify, BindDN: l.BindDN, BaseDN: l.BaseDN, Filter: l.Filter,
			Scope: l.Scope, Timeout: l.Timeout.Duration, PoolSize: l.PoolSize,
			PositiveTTL: l.PositiveTTL.Duration, NegativeTTL: l.NegativeTTL.Duration,
			ClientLookups: l.ClientMaxLookups, ClientMissRate: l.ClientMissRate}
		if l.PasswordFile != "" {
			var err error
			if lo.Password, err = config.ReadSecret(l.PasswordFile); err != nil {
				return nil, fmt.Errorf("recipients.ldap.password_file: %w", err)
			}
		}
		o.LDAP = lo
	}
	v, err := recipients.New(o, log.With("check", "recipient"))
	if err != nil {
		return nil, fmt.Errorf("recipients: %w", err)
	}
	return v, nil
}

func spamdClient(c config.Score) *spamc.Client {
	if !c.Enabled || !c.Spamd.Enabled {
		return nil
	}
	return &spamc.Client{Addr: c.Spamd.Address, Timeout: c.Spamd.Timeout.Duration, MaxSize: c.Spamd.MaxSize}
}
