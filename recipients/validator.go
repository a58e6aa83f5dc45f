package recipients

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"unicode/utf8"

	"spamgate/internal/domainname"
)

// Validator answers Check for the configured domains. It is safe for
// concurrent use.
type Validator struct {
	domains map[string]bool // lookup form
	path    string          // the table file; "" for none
	loaded  fileState       // the table file as New read it; Watch starts from it
	table   atomic.Pointer[table]
	dir     *directory    // nil without LDAP
	limits  *clientLimits // nil without LDAP or with no client limits
	log     *slog.Logger
}

// New checks the options, reads the table (errors name FILE:LINE) and
// prepares the LDAP pool; it does not connect: the directory may come up
// after the milter. log may be nil.
func New(o Options, log *slog.Logger) (*Validator, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := &Validator{domains: map[string]bool{}, path: o.Table, log: log}
	if err := v.setDomains(o.Domains); err != nil {
		return nil, err
	}
	if o.Table == "" && o.LDAP == nil {
		return nil, errors.New("recipients: neither a table nor LDAP: every address would be unknown")
	}
	if o.Table != "" {
		v.loaded = stat(o.Table) // before reading: a change while reading is seen
		t, err := loadTable(o.Table)
		if err != nil {
			return nil, err
		}
		v.setTable(t)
	}
	if o.LDAP != nil {
		cfg, err := o.LDAP.check()
		if err != nil {
			return nil, err
		}
		if v.dir, err = newDirectory(cfg, log); err != nil {
			return nil, err
		}
		v.limits = newClientLimits(cfg.ClientLookups, cfg.ClientMissRate)
	}
	return v, nil
}

func (v *Validator) setDomains(domains []string) error {
	if len(domains) == 0 {
		return errors.New("recipients: no domains to validate")
	}
	for _, d := range domains {
		a, err := domainname.Normalize(d)
		if err != nil {
			return fmt.Errorf("recipients: domain: %w", err)
		}
		v.domains[a] = true
	}
	return nil
}

// setTable installs t and warns about entries no Check can reach.
func (v *Validator) setTable(t *table) {
	for key, src := range t.entries {
		if a := parseAddress(key); !v.domains[a.domain] {
			v.log.Warn("recipient table entry for a domain that is not validated", "entry", key, "source", src)
		}
	}
	v.table.Store(t)
}

// Check says whether addr (an envelope address, angle brackets allowed)
// is a known recipient. The error, always matching ErrUnavailable, comes
// only when the table does not know the address and LDAP could not say.
// It applies no per-client limit: see CheckClient.
func (v *Validator) Check(ctx context.Context, addr string) (Result, error) {
	return v.CheckClient(ctx, netip.Addr{}, addr)
}

// CheckClient is Check for a recipient given by the SMTP client at
// client: the directory lookups it needs are subject to the client
// network's limits (LDAPOptions.ClientLookups, ClientMissRate), so that a
// dictionary attack from one network neither holds the LDAP pool nor
// delays other clients. Over its budget of misses, the error matches
// ErrRateLimited (and ErrUnavailable): tempfail, never a 5xx, as the
// address was not looked up. An invalid client (the zero Addr) has no
// limits.
func (v *Validator) CheckClient(ctx context.Context, client netip.Addr, addr string) (Result, error) {
	a := parseAddress(addr)
	if !a.hasAt {
		return Result{Status: Unknown}, nil // no domain: no mailbox of ours
	}
	if !a.domOK || !v.domains[a.domain] {
		return Result{Status: NotOurs}, nil
	}
	if !utf8.ValidString(addr) || checkLocal(a.local) != nil || len(a.full()) > maxAddress {
		return Result{Status: Unknown}, nil // no such mailbox can exist: ask nobody
	}
	if src, ok := v.table.Load().lookup(a); ok {
		return Result{Status: Known, Source: "table " + src}, nil
	}
	if v.dir == nil {
		return Result{Status: Unknown}, nil
	}
	keys := ldapKeys(a)
	if res, ok := v.fromCache(keys); ok {
		return res, nil
	}
	if v.limits == nil || !client.IsValid() {
		return v.checkLDAP(ctx, keys)
	}
	ctx, cancel := context.WithTimeout(ctx, v.dir.cfg.Timeout)
	defer cancel()
	st, err := v.limits.enter(ctx, client)
	if err != nil {
		v.log.Debug("recipient not looked up", "client", client, "address", a.full(), "reason", err)
		ans, _, err := v.dir.cachedOr(err, keys[len(keys)-1])
		if err != nil {
			return Result{}, err
		}
		return Result{Status: Known, Source: "ldap " + ans.dn, Cached: true}, nil // user+ext of a cached user
	}
	res, err := v.checkLDAP(ctx, keys)
	v.limits.leave(st, err == nil && res.Status == Unknown && !res.Cached)
	return res, err
}

// ldapKeys are the addresses asked for: the address, then without its
// +extension.
func ldapKeys(a address) []string {
	keys := []string{a.full()}
	if a.base != "" {
		keys = append(keys, a.base+"@"+a.domain)
	}
	return keys
}

// fromCache answers from the cache alone when it can: a key cached as
// found before any key it does not have, or every key cached as unknown.
// Such answers cost the directory nothing and no client budget.
func (v *Validator) fromCache(keys []string) (Result, bool) {
	for _, key := range keys {
		ans, ok := v.dir.cache.get(key)
		if !ok {
			return Result{}, false
		}
		if ans.dn != "" {
			return Result{Status: Known, Source: "ldap " + ans.dn, Cached: true}, true
		}
	}
	return Result{Status: Unknown, Cached: true}, true
}

// checkLDAP asks for each key in turn; the timeout covers them all.
func (v *Validator) checkLDAP(ctx context.Context, keys []string) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, v.dir.cfg.Timeout)
	defer cancel()
	allCached := true
	for i, key := range keys {
		ans, cached, err := v.dir.find(ctx, key)
		if err != nil && i == 0 && len(keys) > 1 {
			ans, cached, err = v.dir.cachedOr(err, keys[1])
		}
		if err != nil {
			return Result{}, err
		}
		allCached = allCached && cached
		if ans.dn != "" {
			return Result{Status: Known, Source: "ldap " + ans.dn, Cached: cached}, nil
		}
	}
	return Result{Status: Unknown, Cached: allCached}, nil
}

// Stats are the validator's counters since it was made, for metrics.
type Stats struct {
	// RateLimited counts lookups not made: the client's network had spent
	// its budget of unknown addresses (ErrRateLimited, a tempfail).
	RateLimited int64
	// ClientWaits counts lookups that waited for their turn because their
	// client network already had ClientLookups lookups using the pool.
	ClientWaits int64
	// Queries counts directory searches sent.
	Queries int64
}

// Stats returns the validator's counters; zero without LDAP.
func (v *Validator) Stats() Stats {
	var s Stats
	if v.dir != nil {
		s.Queries = v.dir.queries.Load()
	}
	if v.limits != nil {
		s.RateLimited, s.ClientWaits = v.limits.refused.Load(), v.limits.waited.Load()
	}
	return s
}

// Healthy reports whether LDAP answers (bind and base DN included); nil
// without LDAP. Its error matches ErrUnavailable.
func (v *Validator) Healthy(ctx context.Context) error {
	if v.dir == nil {
		return nil
	}
	return v.dir.healthy(ctx)
}

// Close closes the LDAP connections, after waiting for lookups in flight.
func (v *Validator) Close() {
	if v.dir != nil {
		v.dir.close()
	}
}
