package recipients

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Options configure a Validator.
type Options struct {
	// Domains are the relay domains validated; other domains are NotOurs.
	// IDNs may be given in U-labels or A-labels.
	Domains []string
	// Table is an optional file of addresses, consulted first.
	Table string
	// LDAP is optional; it is asked for addresses the table does not have.
	LDAP *LDAPOptions
}

// LDAPOptions configure the directory lookup.
type LDAPOptions struct {
	URL                string // ldap://host:389 or ldaps://host:636
	StartTLS           bool   // only with ldap://
	CAFile             string // PEM; "" means the system roots
	InsecureSkipVerify bool
	BindDN, Password   string // empty BindDN: anonymous
	BaseDN             string
	// Filter is a template; every %s becomes the escaped address.
	// Default "(mail=%s)".
	Filter string
	// Scope is "sub" (default), "one" or "base".
	Scope string
	// Timeout bounds one Check's directory part; default 3s.
	Timeout time.Duration
	// PoolSize is the number of connections, dialed when needed; default 4.
	PoolSize int
	// PositiveTTL and NegativeTTL are how long answers are cached; defaults
	// 10m and 2m. A negative value disables that half of the cache.
	PositiveTTL, NegativeTTL time.Duration
	// ClientLookups is the most lookups of one client network (a /24 or /64)
	// that use the pool at once, so that a dictionary attack leaves room for
	// the other clients; 0: half of PoolSize (at least 1); negative: no limit.
	// It applies to CheckClient only.
	ClientLookups int
	// ClientMissRate is the number of unknown addresses per minute one client
	// network may make the directory look up (and as many at once); past it,
	// its uncached addresses fail with ErrRateLimited (a tempfail) without a
	// lookup. 0: 20; negative: no limit. It applies to CheckClient only.
	ClientMissRate int
}

const (
	defaultFilter      = "(mail=%s)"
	defaultTimeout     = 3 * time.Second
	defaultPoolSize    = 4
	defaultPositiveTTL = 10 * time.Minute
	defaultNegativeTTL = 2 * time.Minute
	// DefaultClientMissRate is ClientMissRate's default: a sender with a few
	// stale addresses stays far below it; a dictionary attack reaches it in
	// seconds.
	DefaultClientMissRate = 20
)

// ldapConfig is LDAPOptions checked and completed.
type ldapConfig struct {
	LDAPOptions
	hostPort string
	ldaps    bool
	scope    int
	tls      *tls.Config // nil without ldaps or StartTLS
}

func (o *LDAPOptions) check() (*ldapConfig, error) {
	c := &ldapConfig{LDAPOptions: *o}
	c.setDefaults()
	for _, step := range []func() error{c.checkURL, c.checkBind, c.checkSearch, c.checkLimits, c.buildTLS} {
		if err := step(); err != nil {
			return nil, fmt.Errorf("recipients: ldap: %w", err)
		}
	}
	return c, nil
}

func (c *ldapConfig) setDefaults() {
	if c.Filter == "" {
		c.Filter = defaultFilter
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.PoolSize == 0 {
		c.PoolSize = defaultPoolSize
	}
	if c.PositiveTTL == 0 {
		c.PositiveTTL = defaultPositiveTTL
	}
	if c.NegativeTTL == 0 {
		c.NegativeTTL = defaultNegativeTTL
	}
	if c.ClientLookups == 0 {
		c.ClientLookups = max(c.PoolSize/2, 1)
	}
	if c.ClientMissRate == 0 {
		c.ClientMissRate = DefaultClientMissRate
	}
}

func (c *ldapConfig) checkURL() error {
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	port := map[string]string{"ldap": "389", "ldaps": "636"}[u.Scheme]
	if port == "" || u.Hostname() == "" {
		return fmt.Errorf("url %q: want ldap://host[:port] or ldaps://host[:port]", c.URL)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	c.hostPort, c.ldaps = net.JoinHostPort(u.Hostname(), port), u.Scheme == "ldaps"
	if c.ldaps && c.StartTLS {
		return fmt.Errorf("url %q: StartTLS is for ldap://; ldaps:// is TLS already", c.URL)
	}
	return nil
}

func (c *ldapConfig) checkBind() error {
	if c.BindDN == "" {
		if c.Password != "" {
			return errors.New("a password without a bind DN")
		}
		return nil
	}
	if _, err := ldap.ParseDN(c.BindDN); err != nil {
		return fmt.Errorf("bind DN %q: %w", c.BindDN, err)
	}
	if c.Password == "" {
		// go-ldap refuses it at bind time; say so now.
		return fmt.Errorf("bind DN %q without a password", c.BindDN)
	}
	return nil
}

func (c *ldapConfig) checkSearch() error {
	if _, err := ldap.ParseDN(c.BaseDN); err != nil || c.BaseDN == "" {
		return fmt.Errorf("base DN %q is not a DN: %v", c.BaseDN, err)
	}
	if !strings.Contains(c.Filter, "%s") {
		return fmt.Errorf("filter %q has no %%s for the address", c.Filter)
	}
	if _, err := ldap.CompileFilter(filterFor(c.Filter, "user@example.org")); err != nil {
		return fmt.Errorf("filter %q: %w", c.Filter, err)
	}
	scopes := map[string]int{"": ldap.ScopeWholeSubtree, "sub": ldap.ScopeWholeSubtree,
		"one": ldap.ScopeSingleLevel, "base": ldap.ScopeBaseObject}
	scope, ok := scopes[strings.ToLower(c.Scope)]
	if !ok {
		return fmt.Errorf("scope %q: want sub, one or base", c.Scope)
	}
	c.scope = scope
	return nil
}

func (c *ldapConfig) checkLimits() error {
	if c.Timeout < 0 || c.PoolSize < 0 {
		return fmt.Errorf("negative timeout %v or pool size %d", c.Timeout, c.PoolSize)
	}
	return nil
}

func (c *ldapConfig) buildTLS() error {
	if !c.ldaps && !c.StartTLS {
		return nil
	}
	host, _, _ := net.SplitHostPort(c.hostPort)
	c.tls = &tls.Config{ServerName: host, InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if c.CAFile == "" {
		return nil
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return fmt.Errorf("CA file: %w", err)
	}
	c.tls.RootCAs = x509.NewCertPool()
	if !c.tls.RootCAs.AppendCertsFromPEM(pem) {
		return fmt.Errorf("CA file %s: no PEM certificate in it", c.CAFile)
	}
	return nil
}

// filterFor fills the filter template with the escaped address, so that
// '*', '(', ')', '\' and NUL in an address are data, never filter syntax.
func filterFor(template, addr string) string {
	return strings.ReplaceAll(template, "%s", ldap.EscapeFilter(addr))
}
