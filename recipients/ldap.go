package recipients

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// directory answers "is there an entry for this address" from LDAP.
type directory struct {
	cfg     *ldapConfig
	pool    *pool
	cache   *answerCache
	log     *slog.Logger
	queries atomic.Int64 // searches sent, for tests and metrics
	dials   atomic.Int64 // connections opened
}

func newDirectory(cfg *ldapConfig, log *slog.Logger) (*directory, error) {
	d := &directory{cfg: cfg, log: log}
	d.pool = newPool(cfg.PoolSize, d.dial)
	var err error
	if d.cache, err = newAnswerCache(cfg.PositiveTTL, cfg.NegativeTTL); err != nil {
		return nil, err
	}
	return d, nil
}

// answer is one lookup's outcome: the entry's DN, or "" for none.
type answer struct{ dn string }

// find looks key (an address in lookup form) up, from the cache if it can.
func (d *directory) find(ctx context.Context, key string) (a answer, cached bool, err error) {
	if a, ok := d.cache.get(key); ok {
		return a, true, nil
	}
	err = d.pool.do(ctx, func(c *ldap.Conn) error {
		a, err = d.search(ctx, c, key)
		return err
	})
	if err != nil {
		return answer{}, false, d.unavailable(ctx, "search for "+key, err)
	}
	d.cache.put(key, a)
	return a, false, nil
}

// cachedOr is for a failed lookup of user+ext: when user is cached as
// found, the answer is Known whatever user+ext would have said, so the
// outage need not tempfail it.
func (d *directory) cachedOr(err error, base string) (answer, bool, error) {
	if a, ok := d.cache.get(base); ok && a.dn != "" {
		return a, true, nil
	}
	return answer{}, false, err
}

// search asks the server. SizeLimit 2 so that an address on two entries
// can be logged; any entry makes it known.
func (d *directory) search(ctx context.Context, c *ldap.Conn, key string) (answer, error) {
	d.queries.Add(1)
	filter := filterFor(d.cfg.Filter, key)
	req := ldap.NewSearchRequest(d.cfg.BaseDN, d.cfg.scope, ldap.NeverDerefAliases,
		2, timeLimit(d.cfg.Timeout), false, filter, []string{"1.1"}, nil)
	var dns []string
	err := d.each(ctx, c, req, func(e *ldap.Entry) { dns = append(dns, e.DN) })
	if len(dns) > 1 {
		d.log.Debug("recipient address is on more than one LDAP entry", "address", key, "dns", dns)
	}
	if len(dns) > 0 {
		return answer{dn: dns[0]}, nil // a size-limit error after two entries is no failure
	}
	return answer{}, err
}

// each runs req with SearchAsync, so that a done ctx ends the wait (Search
// takes no ctx), and calls fn for each entry.
func (d *directory) each(ctx context.Context, c *ldap.Conn, req *ldap.SearchRequest, fn func(*ldap.Entry)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops go-ldap's goroutine if we return early
	r := c.SearchAsync(ctx, req, 4)
	for r.Next() {
		if e := r.Entry(); e != nil {
			fn(e)
		}
	}
	// go-ldap reports a cancelled search as a success: check ctx first.
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.Err(); err != nil {
		return err
	}
	// A search on a connection closing under it also ends without an
	// error, exactly like one that found nothing: that must not become
	// "unknown".
	if c.IsClosing() {
		return fmt.Errorf("connection closed during the search: %w", cmp.Or(c.GetLastError(), errConnClosed))
	}
	return nil
}

var errConnClosed = errors.New("closed")

// timeLimit is the server-side limit in whole seconds, at least 1.
func timeLimit(t time.Duration) int {
	return int(math.Ceil(t.Seconds()))
}

// healthy dials if needed and reads the base entry: the server answers,
// the bind works and the base DN exists.
func (d *directory) healthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req := ldap.NewSearchRequest(d.cfg.BaseDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, timeLimit(d.cfg.Timeout), false, "(objectClass=*)", []string{"1.1"}, nil)
	found := false
	err := d.pool.do(ctx, func(c *ldap.Conn) error {
		return d.each(ctx, c, req, func(*ldap.Entry) { found = true })
	})
	if err == nil && !found {
		err = fmt.Errorf("base DN %q not found", d.cfg.BaseDN)
	}
	if err != nil {
		return d.unavailable(ctx, "health check", err)
	}
	return nil
}

// unavailable wraps err with ErrUnavailable and what failed.
func (d *directory) unavailable(ctx context.Context, what string, err error) error {
	switch cerr := ctx.Err(); {
	case errors.Is(cerr, context.DeadlineExceeded):
		err = fmt.Errorf("no answer within %v: %w", d.cfg.Timeout, errors.Join(err, cerr))
	case cerr != nil:
		err = errors.Join(err, cerr)
	}
	d.log.Debug("LDAP lookup failed", "url", d.cfg.URL, "what", what, "err", err)
	return fmt.Errorf("%w: %s %s: %s: %w", ErrUnavailable, d.cfg.URL, d.cfg.BaseDN, what, err)
}

// dial connects, starts TLS and binds. The TCP dial follows ctx; StartTLS
// and Bind take no ctx in go-ldap, so a done ctx breaks the socket under
// them.
func (d *directory) dial(ctx context.Context) (*ldap.Conn, error) {
	d.dials.Add(1)
	raw, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	c := ldap.NewConn(raw, d.cfg.ldaps)
	c.Start()
	// ctx bounds each request; go-ldap's own timeout is only a backstop,
	// later, so that a timeout is reported as ctx's.
	c.SetTimeout(d.cfg.Timeout + time.Second)
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	err = d.handshake(c)
	if !stop() && err == nil {
		err = ctx.Err() // the socket is broken now even if the bind made it
	}
	if err != nil {
		_ = c.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%v: %w", err, ctx.Err())
		}
		return nil, err
	}
	d.log.Debug("LDAP connection ready", "url", d.cfg.URL)
	return c, nil
}

func (d *directory) connect(ctx context.Context) (net.Conn, error) {
	var nd net.Dialer
	raw, err := nd.DialContext(ctx, "tcp", d.cfg.hostPort)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if !d.cfg.ldaps {
		return raw, nil
	}
	tc := tls.Client(raw, d.cfg.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

func (d *directory) handshake(c *ldap.Conn) error {
	if d.cfg.StartTLS {
		if err := c.StartTLS(d.cfg.tls); err != nil {
			return fmt.Errorf("StartTLS: %w", err)
		}
	}
	if d.cfg.BindDN == "" {
		return nil
	}
	if err := c.Bind(d.cfg.BindDN, d.cfg.Password); err != nil {
		return fmt.Errorf("bind as %q: %w", d.cfg.BindDN, err)
	}
	return nil
}

func (d *directory) close() {
	d.pool.close()
	d.cache.close()
}
