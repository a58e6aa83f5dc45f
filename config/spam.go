package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"spamgate/score"
)

// IPRev is the [iprev] table: the client's reverse DNS, forward-confirmed
// (RFC 8601 "iprev"), and whether its name looks like a dynamic address.
// Greylisting and the spam score read it.
type IPRev struct {
	Enabled bool `toml:"enabled"`
	// DynamicWords are name parts that mark an end-user address pool
	// ("dsl", "dyn", …); a name that also holds the address's octets counts
	// as dynamic whatever its words.
	DynamicWords []string `toml:"dynamic_words"`
}

// Greylist is the [greylist] table.
type Greylist struct {
	// Mode: "suspicious" greylists only clients that look like spam
	// sources, "always" every client, "never" none. A recipient's policy
	// rule can set its own mode.
	Mode        string   `toml:"mode"`
	Delay       Duration `toml:"delay"`        // a retry sooner than this is deferred again
	RetryWindow Duration `toml:"retry_window"` // a retry later than this starts over
	PassTTL     Duration `toml:"pass_ttl"`     // a passed triplet is remembered this long, renewed on use
	AWLCount    int      `toml:"awl_count"`    // client networks that passed this often skip greylisting …
	AWLTTL      Duration `toml:"awl_ttl"`      // … for this long after their last pass
	IPv4Prefix  int      `toml:"ipv4_prefix"`  // the client network of a triplet
	IPv6Prefix  int      `toml:"ipv6_prefix"`
	// Store: "memory" (in-process; File keeps it across restarts) or "redis".
	Store string `toml:"store"`
	File  string `toml:"file"`
	// The memory store's bounds (check-config prints the memory they
	// take) and how often its file is rewritten when the state changed.
	MaxEntries   int      `toml:"max_entries"`   // triplets; waiting ones are evicted first
	MaxWhitelist int      `toml:"max_whitelist"` // auto-whitelist counters; least recently used evicted
	SaveInterval Duration `toml:"save_interval"`
	// OnStoreError: "accept" lets mail through when the store cannot be
	// asked (a warning is logged and counted); "tempfail" answers 451 4.3.0.
	OnStoreError string   `toml:"on_store_error"`
	Timeout      Duration `toml:"timeout"` // one store call
	// Whitelists: never greylisted.
	WhitelistNetworks         []string      `toml:"whitelist_networks"`
	WhitelistSenderDomains    []string      `toml:"whitelist_sender_domains"`
	WhitelistRecipientDomains []string      `toml:"whitelist_recipient_domains"`
	Redis                     GreylistRedis `toml:"redis"`
}

// GreylistRedis is the [greylist.redis] table.
type GreylistRedis struct {
	Addresses    []string `toml:"addresses"`     // "HOST:PORT"
	MasterName   string   `toml:"master_name"`   // Sentinel: addresses are the sentinels
	Cluster      bool     `toml:"cluster"`       // several addresses form a Redis Cluster
	PasswordFile string   `toml:"password_file"` // the password, alone in a file
	DB           int      `toml:"db"`
	KeyPrefix    string   `toml:"key_prefix"`
	TLS          bool     `toml:"tls"`
	TLSCAFile    string   `toml:"tls_ca_file"` // "" : the system's CAs
	// The circuit breaker in front of the store: after BreakerFailures
	// consecutive failed checks, checks fail at once (on_store_error
	// decides) and one trial check goes to Redis every BreakerOpen; its
	// success closes the breaker. BreakerOpen bounds how long greylisting
	// lags behind a Redis that is back (a Sentinel promotion).
	BreakerFailures int      `toml:"breaker_failures"`
	BreakerOpen     Duration `toml:"breaker_open"`
}

// Recipients is the [recipients] table: only known recipients of the
// relay domains are accepted.
type Recipients struct {
	Domains []string `toml:"domains"` // relay domains validated; others are not
	Table   string   `toml:"table"`   // one address or @domain per line, consulted first
	// OnLDAPError: "tempfail" (451 4.3.0) or "accept" when LDAP cannot
	// be asked. Accepting risks backscatter, refusing would lose mail.
	OnLDAPError string         `toml:"on_ldap_error"`
	LDAP        RecipientsLDAP `toml:"ldap"`
}

// RecipientsLDAP is the [recipients.ldap] table; URL "" means no LDAP.
type RecipientsLDAP struct {
	URL                string   `toml:"url"` // ldap://HOST:PORT or ldaps://HOST:PORT
	StartTLS           bool     `toml:"start_tls"`
	CAFile             string   `toml:"ca_file"`
	InsecureSkipVerify bool     `toml:"insecure_skip_verify"`
	BindDN             string   `toml:"bind_dn"`
	PasswordFile       string   `toml:"password_file"`
	BaseDN             string   `toml:"base_dn"`
	Filter             string   `toml:"filter"` // every %s is the escaped address
	Scope              string   `toml:"scope"`  // sub, one, base
	Timeout            Duration `toml:"timeout"`
	PoolSize           int      `toml:"pool_size"`
	PositiveTTL        Duration `toml:"positive_ttl"`
	NegativeTTL        Duration `toml:"negative_ttl"`
	// ClientMaxLookups is the most lookups one client network (/24, /64)
	// has on the pool at once (0: half of pool_size; -1: no limit), and
	// ClientMissRate the unknown addresses a minute it may make LDAP look
	// up; past it they get 451 4.3.0 without a lookup (-1: no limit).
	ClientMaxLookups int `toml:"client_max_lookups"`
	ClientMissRate   int `toml:"client_miss_rate"`
}

// Score is the [score] table: a spam score from every check, with the
// tag and kill levels (SpamAssassin's conventions).
type Score struct {
	Enabled   bool    `toml:"enabled"`
	TagLevel  float64 `toml:"tag_level"`  // X-Spam-Flag: YES at or above
	KillLevel float64 `toml:"kill_level"` // refused (or quarantined) at or above
	// KillAction: "reject" (550 5.7.1) or "quarantine" (Postfix's hold queue).
	KillAction string `toml:"kill_action"`
	// SubjectTag, when not empty, is put before the Subject of tagged mail.
	SubjectTag string `toml:"subject_tag"`
	// HeaderFields are the X-Spam-* fields added (X-Spam-Flag only to
	// spam): SpamAssassin's four by default. Each is one more header edit
	// for Postfix; filters that read only X-Spam-Flag need no others.
	HeaderFields []string    `toml:"header_fields"`
	Points       ScorePoints `toml:"points"`
	Spamd        Spamd       `toml:"spamd"`
}

// ScorePoints are the points each finding adds.
type ScorePoints struct {
	DNSBL           float64 `toml:"dnsbl"` // per unit of a listed zone's weight
	SPFFail         float64 `toml:"spf_fail"`
	SPFSoftfail     float64 `toml:"spf_softfail"`
	SPFNeutral      float64 `toml:"spf_neutral"`
	SPFNone         float64 `toml:"spf_none"`
	SPFPermerror    float64 `toml:"spf_permerror"`
	SPFTemperror    float64 `toml:"spf_temperror"`
	DKIMFail        float64 `toml:"dkim_fail"` // a signature failed and none passed
	DMARCFail       float64 `toml:"dmarc_fail"`
	DMARCQuarantine float64 `toml:"dmarc_quarantine"` // the sender asks for quarantine (quarantine_action = "tag")
	ARCFail         float64 `toml:"arc_fail"`         // the ARC chain failed (not for DNS trouble)
	RDNSNone        float64 `toml:"rdns_none"`
	RDNSUnconfirmed float64 `toml:"rdns_unconfirmed"`
	RDNSDynamic     float64 `toml:"rdns_dynamic"`
	HeloIPLiteral   float64 `toml:"helo_ip_literal"`
	HeloUnresolved  float64 `toml:"helo_unresolvable"`
	NoMessageID     float64 `toml:"missing_message_id"`
	NoDate          float64 `toml:"missing_date"`
	FromMalformed   float64 `toml:"from_malformed"` // the From field does not parse; judged as a client shows it
	NoFrom          float64 `toml:"missing_from"`   // no From field: no author to judge
}

// Spamd is the [score.spamd] table: content scoring by SpamAssassin.
type Spamd struct {
	Enabled bool     `toml:"enabled"`
	Address string   `toml:"address"` // HOST:PORT of spamd
	Timeout Duration `toml:"timeout"`
	MaxSize int64    `toml:"max_size"` // bigger messages are not sent
	Weight  float64  `toml:"weight"`   // spamd's score counts this much
}

// Metrics is the [metrics] table: Prometheus metrics and /healthz.
type Metrics struct {
	Listen string `toml:"listen"` // "inet:127.0.0.1:9465"; "" for none
}

func defaultIPRev() IPRev {
	return IPRev{Enabled: true, DynamicWords: []string{"dyn", "dynamic", "dialup", "dial", "dip",
		"pool", "dsl", "adsl", "xdsl", "vdsl", "cable", "dhcp", "ppp", "pppoe", "broadband", "cpe",
		"customer", "client", "user", "residential", "res", "home", "ftth", "fios", "catv"}}
}

func defaultGreylist() Greylist {
	return Greylist{Mode: "suspicious", Delay: Duration{5 * time.Minute}, RetryWindow: Duration{48 * time.Hour},
		PassTTL: Duration{35 * 24 * time.Hour}, AWLCount: 5, AWLTTL: Duration{35 * 24 * time.Hour},
		IPv4Prefix: 24, IPv6Prefix: 64, Store: "memory", OnStoreError: "accept",
		MaxEntries: 1_000_000, MaxWhitelist: 100_000, SaveInterval: Duration{5 * time.Minute},
		Timeout: Duration{200 * time.Millisecond}, Redis: GreylistRedis{KeyPrefix: "spamgate:gl:",
			BreakerFailures: 5, BreakerOpen: Duration{2 * time.Second}}}
}

func defaultRecipients() Recipients {
	return Recipients{OnLDAPError: "tempfail", LDAP: RecipientsLDAP{Scope: "sub", Timeout: Duration{3 * time.Second},
		PoolSize: 4, PositiveTTL: Duration{10 * time.Minute}, NegativeTTL: Duration{2 * time.Minute},
		Filter: "(mail=%s)", ClientMissRate: 20}}
}

func defaultScore() Score {
	return Score{Enabled: true, TagLevel: 4.5, KillLevel: 16, KillAction: "reject",
		HeaderFields: []string{"X-Spam-Flag", "X-Spam-Score", "X-Spam-Level", "X-Spam-Status"},
		Points: ScorePoints{DNSBL: 3, SPFFail: 3, SPFSoftfail: 1.5, SPFNeutral: 0.5, SPFNone: 0.8,
			SPFPermerror: 1, SPFTemperror: 0.3, DKIMFail: 1.5, DMARCFail: 2, DMARCQuarantine: 5, ARCFail: 1,
			RDNSNone: 1.5, RDNSUnconfirmed: 1, RDNSDynamic: 1.5, HeloIPLiteral: 1, HeloUnresolved: 0.8,
			NoMessageID: 0.5, NoDate: 0.5, FromMalformed: 2, NoFrom: 1},
		Spamd: Spamd{Address: "127.0.0.1:783", Timeout: Duration{15 * time.Second}, MaxSize: 512 << 10, Weight: 1}}
}

func (c *Config) validateSpam(bad func(key, format string, args ...any)) {
	g := c.Greylist
	switch g.Mode {
	case "suspicious", "always", "never":
	default:
		bad("greylist.mode", "%q is not suspicious, always or never", g.Mode)
	}
	positive(bad, "greylist.delay", g.Delay, 24*time.Hour)
	positive(bad, "greylist.retry_window", g.RetryWindow, 30*24*time.Hour)
	positive(bad, "greylist.pass_ttl", g.PassTTL, 365*24*time.Hour)
	positive(bad, "greylist.awl_ttl", g.AWLTTL, 365*24*time.Hour)
	positive(bad, "greylist.timeout", g.Timeout, time.Minute)
	if g.RetryWindow.Duration <= g.Delay.Duration {
		bad("greylist.retry_window", "must be longer than delay (%v)", g.Delay.Duration)
	}
	if g.AWLCount < 0 {
		bad("greylist.awl_count", "must not be negative (0 turns the auto-whitelist off)")
	}
	if g.IPv4Prefix < 8 || g.IPv4Prefix > 32 {
		bad("greylist.ipv4_prefix", "%d is not between 8 and 32", g.IPv4Prefix)
	}
	if g.IPv6Prefix < 16 || g.IPv6Prefix > 128 {
		bad("greylist.ipv6_prefix", "%d is not between 16 and 128", g.IPv6Prefix)
	}
	if g.MaxEntries < 1000 || g.MaxEntries > 100_000_000 {
		bad("greylist.max_entries", "%d is not between 1000 and 100000000", g.MaxEntries)
	}
	if g.MaxWhitelist < 100 || g.MaxWhitelist > 10_000_000 {
		bad("greylist.max_whitelist", "%d is not between 100 and 10000000", g.MaxWhitelist)
	}
	if g.SaveInterval.Duration < 10*time.Second || g.SaveInterval.Duration > 24*time.Hour {
		bad("greylist.save_interval", "%v is not between 10s and 24h", g.SaveInterval.Duration)
	}
	switch g.Store {
	case "memory":
	case "redis":
		if len(g.Redis.Addresses) == 0 {
			bad("greylist.redis.addresses", "store = \"redis\" needs at least one address")
		}
	default:
		bad("greylist.store", "%q is not memory or redis", g.Store)
	}
	if g.OnStoreError != "accept" && g.OnStoreError != "tempfail" {
		bad("greylist.on_store_error", "%q is not accept or tempfail", g.OnStoreError)
	}
	if _, err := ParsePrefixes(g.WhitelistNetworks); err != nil {
		bad("greylist.whitelist_networks", "%v", err)
	}
	validateRedis(bad, "greylist.redis", g.Redis.Addresses, g.Redis.Cluster, g.Redis.MasterName)
	if n := g.Redis.BreakerFailures; n < 1 || n > 1000 {
		bad("greylist.redis.breaker_failures", "%d is not between 1 and 1000", n)
	}
	if d := g.Redis.BreakerOpen.Duration; d < 100*time.Millisecond || d > 5*time.Minute {
		bad("greylist.redis.breaker_open", "%v is not between 100ms and 5m", d)
	}
	c.validateRecipients(bad)
	c.validateScore(bad)
	if c.Metrics.Listen != "" {
		if network, _, err := ParseListen(c.Metrics.Listen); err != nil {
			bad("metrics.listen", "%v", err)
		} else if network != "tcp" {
			bad("metrics.listen", "%q: metrics are served over HTTP on inet:HOST:PORT only", c.Metrics.Listen)
		}
	}
}

// validateRedis checks what a Redis client needs, for any table.
func validateRedis(bad func(key, format string, args ...any), table string, addrs []string, cluster bool, master string) {
	for i, a := range addrs {
		if strings.Contains(a, "@") {
			// Not echoed: it may hold a password, and errors go to logs.
			bad(table+".addresses", "entry %d holds credentials (\"@\"): the address is HOST:PORT, the password goes in password_file", i+1)
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad(table+".addresses", "%q is not HOST:PORT", a)
		}
	}
	if cluster && master != "" {
		bad(table+".cluster", "a Cluster has no master_name (that is Sentinel)")
	}
	if !cluster && master == "" && len(addrs) > 1 {
		bad(table+".addresses", "several addresses need cluster = true (Redis Cluster) or master_name (Sentinel)")
	}
}

func (c *Config) validateRecipients(bad func(key, format string, args ...any)) {
	r := c.Recipients
	if r.OnLDAPError != "tempfail" && r.OnLDAPError != "accept" {
		bad("recipients.on_ldap_error", "%q is not tempfail or accept", r.OnLDAPError)
	}
	if len(r.Domains) == 0 && (r.Table != "" || r.LDAP.URL != "") {
		bad("recipients.domains", "a table or LDAP needs the domains they cover")
	}
	l := r.LDAP
	if l.URL == "" {
		return
	}
	if u, err := url.Parse(l.URL); err != nil || u.User != nil || u.Scheme != "ldap" && u.Scheme != "ldaps" {
		// Not echoed: a URL with user information may hold a password.
		bad("recipients.ldap.url", "is not ldap://HOST[:PORT] or ldaps://HOST[:PORT] without credentials (they go in bind_dn and password_file)")
	}
	if l.BaseDN == "" {
		bad("recipients.ldap.base_dn", "required with url")
	}
	if !strings.Contains(l.Filter, "%s") {
		bad("recipients.ldap.filter", "%q has no %%s for the address", l.Filter)
	}
	switch l.Scope {
	case "sub", "one", "base":
	default:
		bad("recipients.ldap.scope", "%q is not sub, one or base", l.Scope)
	}
	positive(bad, "recipients.ldap.timeout", l.Timeout, time.Minute)
	positive(bad, "recipients.ldap.positive_ttl", l.PositiveTTL, 24*time.Hour)
	positive(bad, "recipients.ldap.negative_ttl", l.NegativeTTL, 24*time.Hour)
	if l.PoolSize < 1 || l.PoolSize > 64 {
		bad("recipients.ldap.pool_size", "%d is not between 1 and 64", l.PoolSize)
	}
	if l.ClientMaxLookups < -1 || l.ClientMaxLookups > l.PoolSize {
		bad("recipients.ldap.client_max_lookups", "%d is not between -1 (no limit) and pool_size (%d); 0 is half of pool_size", l.ClientMaxLookups, l.PoolSize)
	}
	if l.ClientMissRate < -1 || l.ClientMissRate == 0 || l.ClientMissRate > 100_000 {
		bad("recipients.ldap.client_miss_rate", "%d is not between 1 and 100000 unknown addresses a minute, or -1 (no limit)", l.ClientMissRate)
	}
}

func (c *Config) validateScore(bad func(key, format string, args ...any)) {
	s := c.Score
	if s.KillLevel <= s.TagLevel {
		bad("score.kill_level", "%v must be above tag_level (%v)", s.KillLevel, s.TagLevel)
	}
	if s.KillAction != "reject" && s.KillAction != "quarantine" {
		bad("score.kill_action", "%q is not reject or quarantine", s.KillAction)
	}
	if _, err := score.ParseFieldSet(s.HeaderFields); err != nil {
		bad("score.header_fields", "%v", err)
	}
	if d := s.Spamd; d.Enabled {
		if _, _, err := net.SplitHostPort(d.Address); err != nil {
			bad("score.spamd.address", "%q is not HOST:PORT", d.Address)
		}
		positive(bad, "score.spamd.timeout", d.Timeout, 5*time.Minute)
		if d.MaxSize <= 0 {
			bad("score.spamd.max_size", "must be above 0")
		}
	}
}

// ReadSecret reads a password kept alone in a file (password_file keys),
// so that it appears neither in the config file nor in check-config's
// output. Surrounding white space, a final newline included, is dropped.
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
