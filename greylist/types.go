package greylist

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// ErrUnavailable is matched (errors.Is) by the error of a Check refused
// without asking the store, because the store has failed too often lately.
var ErrUnavailable = errors.New("greylist store unavailable")

// Reasons of a Decision.
const (
	ReasonNew       = "new"       // first attempt of the triplet: deferred
	ReasonEarly     = "early"     // retried before Delay: deferred again
	ReasonPass      = "pass"      // retried after Delay, or passed before
	ReasonAWL       = "awl"       // the client key is auto-whitelisted
	ReasonWhitelist = "whitelist" // a static or dynamic whitelist entry
	ReasonExempt    = "exempt"    // null sender, postmaster or abuse
)

// Request is what the engine knows at RCPT.
type Request struct {
	Client netip.Addr
	// SPFDomain is set when SPF passed: the authorized domain then
	// replaces the client network in the triplet, since big senders retry
	// from another address of their pool.
	SPFDomain string
	Sender    string // envelope sender as given ("" for <>)
	Rcpt      string
}

// Decision is the outcome of a check.
type Decision struct {
	Allowed bool
	Wait    time.Duration // when deferred: how long until a retry passes
	Reason  string        // one of the Reason constants
}

// Key is a triplet, normalized (MakeKey).
type Key struct{ Client, Sender, Rcpt string }

// Entry is what a store knows of a triplet and its client key; the zero
// Entry when it knows nothing.
type Entry struct {
	FirstSeen  time.Time // zero when the triplet is unknown
	PassedAt   time.Time // zero until the triplet passed
	Expires    time.Time // of the triplet
	AWLCount   int       // triplets of the client key that passed
	AWLExpires time.Time
}

// Whitelist kinds.
const (
	KindNetwork = "network" // Value is a CIDR prefix
	KindDomain  = "domain"  // Value is a sender domain, subdomains included
)

// WhitelistEntry is a dynamic whitelist entry, kept in the store.
type WhitelistEntry struct {
	Kind    string
	Value   string
	Expires time.Time // zero: never
}

// Counts is the size of a store's state, for admins.
type Counts struct {
	Waiting    int // triplets seen, not passed yet
	Passed     int
	AWLClients int // client keys with a pass counter
	Whitelist  int
}

// Store keeps the greylisting state. Every method is safe for concurrent
// use and bounded by ctx.
type Store interface {
	// Check is one round trip: an atomic check-and-set of the triplet and
	// the auto-whitelist counter of its client key.
	Check(ctx context.Context, k Key, p Params) (Decision, error)
	// Status is the state of the triplet and its client key; the zero
	// Entry when unknown.
	Status(ctx context.Context, k Key) (Entry, error)
	// Release marks the triplet passed now (support desk: "let it through").
	Release(ctx context.Context, k Key, p Params) error
	AddWhitelist(ctx context.Context, w WhitelistEntry) error
	RemoveWhitelist(ctx context.Context, kind, value string) error
	// Whitelist lists the entries not expired.
	Whitelist(ctx context.Context) ([]WhitelistEntry, error)
	Counts(ctx context.Context) (Counts, error)
	Ping(ctx context.Context) error
	Close() error
}
