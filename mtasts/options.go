package mtasts

import (
	"cmp"
	"context"
	"crypto/x509"
	"log/slog"
	"net/netip"
	"time"
)

// Resolver is the DNS the client uses, for the TXT record and for the policy host's
// addresses; *dnsx.Resolver is one. Errors should be *net.DNSError, IsNotFound set for
// NXDOMAIN and NODATA.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configure a Client. Resolver is required; the zero value of every other field
// means its default.
type Options struct {
	Resolver Resolver
	// RootCAs verify the policy host's certificate; nil: the system's roots.
	RootCAs *x509.CertPool
	// Timeout bounds one whole fetch: connect, TLS, request and body. RFC 8461 3.3
	// suggests one minute; the default is shorter because a lookup that must fetch
	// holds a Postfix delivery meanwhile.
	Timeout time.Duration
	// MaxBodySize is the largest policy accepted, in bytes (3.3 suggests 64 KB).
	MaxBodySize int64
	// Port is the policy host's HTTPS port; only tests change it.
	Port int
	// CacheSize is the most domains cached.
	CacheSize int
	// MaxFetches is the most policy fetches running at once, for all domains; a lookup
	// that needs one more answers without a policy (see Client.Lookup).
	MaxFetches int
	// FetchBackoff is how long a policy id whose fetch failed is not fetched again
	// (the draft of RFC 8461 suggested five minutes or longer).
	FetchBackoff time.Duration
	// Now is the clock; tests set it.
	Now func() time.Time
	// Log receives what the client decides; nil: no logging.
	Log *slog.Logger
}

// Defaults of Options.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxBodySize  = 64 << 10
	DefaultPort         = 443
	DefaultCacheSize    = 10000
	DefaultFetchBackoff = 5 * time.Minute
	DefaultMaxFetches   = 16
)

// RefreshInterval is the longest a cached policy goes without a refresh (RFC 8461 3.3:
// "a suggested refresh frequency is once per day"); a policy with a shorter max_age is
// refreshed after half of it.
const RefreshInterval = 24 * time.Hour

func (o Options) withDefaults() Options {
	o.Timeout = cmp.Or(o.Timeout, DefaultTimeout)
	o.MaxBodySize = cmp.Or(o.MaxBodySize, DefaultMaxBodySize)
	o.Port = cmp.Or(o.Port, DefaultPort)
	o.CacheSize = cmp.Or(o.CacheSize, DefaultCacheSize)
	o.FetchBackoff = cmp.Or(o.FetchBackoff, DefaultFetchBackoff)
	o.MaxFetches = cmp.Or(o.MaxFetches, DefaultMaxFetches)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}
