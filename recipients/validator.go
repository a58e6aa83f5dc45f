package recipients

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	dir     *directory // nil without LDAP
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
func (v *Validator) Check(ctx context.Context, addr string) (Result, error) {
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
	return v.checkLDAP(ctx, a)
}

// checkLDAP asks for the address, then without its +extension; the
// timeout covers both.
func (v *Validator) checkLDAP(ctx context.Context, a address) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, v.dir.cfg.Timeout)
	defer cancel()
	keys := []string{a.full()}
	if a.base != "" {
		keys = append(keys, a.base+"@"+a.domain)
	}
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
