// Package config reads spamgate's TOML configuration file.
//
// The file has one table per concern ([milter], [dns], and one per check).
// Unknown keys are errors, and every error names the file and line, so that an
// admin who mistypes "treshold" learns it before the daemon starts.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	toml "github.com/pelletier/go-toml/v2"

	"spamgate/dnsx"
)

// Config is the whole configuration. Its zero value is not useful: start from
// Default() or Load().
type Config struct {
	Milter       Milter       `toml:"milter"`
	Log          Log          `toml:"log"`
	DNS          DNS          `toml:"dns"`
	DNSBL        DNSBL        `toml:"dnsbl"`
	SenderDomain SenderDomain `toml:"sender_domain"`
	SPF          SPF          `toml:"spf"`
	DKIM         DKIM         `toml:"dkim"`
	DMARC        DMARC        `toml:"dmarc"`
	ARC          ARC          `toml:"arc"`
	Policy       Policy       `toml:"policy"`
	TLSPolicyMap TLSPolicyMap `toml:"tls_policy_map"`
	IPRev        IPRev        `toml:"iprev"`
	Greylist     Greylist     `toml:"greylist"`
	Recipients   Recipients   `toml:"recipients"`
	Score        Score        `toml:"score"`
	Metrics      Metrics      `toml:"metrics"`
	Admin        Admin        `toml:"admin"`

	// File is the path the configuration was read from ("" for defaults).
	File string `toml:"-"`
	// ruleLines holds the line of each [[policy.rule]] entry, for explain.
	ruleLines []int
}

// Milter configures the milter listener and what every check shares.
type Milter struct {
	// Listen is a Postfix-style address: "inet:HOST:PORT" or "unix:PATH".
	Listen string `toml:"listen"`
	// SocketMode is the octal mode of a unix socket, e.g. "0660".
	SocketMode string `toml:"socket_mode"`
	// AuthservID names this host in Authentication-Results (RFC 8601).
	AuthservID string `toml:"authserv_id"`
	// InternalNetworks are clients whose mail is outbound: inbound checks
	// are skipped for them, as for SASL-authenticated sessions.
	InternalNetworks []string `toml:"internal_networks"`
	// CheckTimeout bounds how long one SMTP stage waits for its lookups;
	// it must stay under Postfix's milter_command_timeout (30s).
	CheckTimeout Duration `toml:"check_timeout"`
	// DrainTimeout bounds how long SIGTERM waits for sessions in flight.
	DrainTimeout Duration `toml:"drain_timeout"`
	// IdleTimeout closes a milter connection on which Postfix sent nothing
	// for this long (a dead peer must not hold a goroutine forever).
	IdleTimeout Duration `toml:"idle_timeout"`
	// MaxSessions caps concurrent milter sessions (connections that sent
	// their option negotiation); more are closed at once and Postfix
	// tempfails them (milter_default_action).
	MaxSessions int `toml:"max_sessions"`
	// NegotiateTimeout closes a connection that has not sent its option
	// negotiation (SMFIC_OPTNEG) this long after connecting. Postfix sends
	// it at once; an idle connection must not hold anything for long.
	NegotiateTimeout Duration `toml:"negotiate_timeout"`
	// MaxUnnegotiated caps connections waiting for their negotiation; they
	// do not count against MaxSessions. At the cap the oldest is closed.
	MaxUnnegotiated int `toml:"max_unnegotiated"`
	// MaxSessionsPerPeer caps the sessions of one TCP peer address; 0: no
	// cap (Postfix on the same host shares 127.0.0.1 with local users).
	MaxSessionsPerPeer int `toml:"max_sessions_per_peer"`
	// MaxSessionTime ends a session that lasts longer, after the message
	// it is in: a client holding one SMTP connection for hours gets a
	// tempfail for its next message and reconnects.
	MaxSessionTime Duration `toml:"max_session_time"`
	// MaxHeaderBytes bounds what one message's header section may make
	// spamgate hold (Postfix's header_size_limit bounds each field, not
	// their number). Beyond it the message is not DKIM-verified or signed;
	// the other checks go on.
	MaxHeaderBytes int64 `toml:"max_header_bytes"`
	// MaxHeaderDeletions bounds the header fields spamgate deletes from one
	// message (forged Authentication-Results with our authserv-id, X-Spam-*
	// from outside). Postfix's cleanup rescans the header for each delete;
	// thousands of them abort it. A message with more is forged: refused.
	MaxHeaderDeletions int `toml:"max_header_deletions"`
}

// Log configures structured logging.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// DNS configures the resolver every check uses.
type DNS struct {
	// Nameservers are "HOST:PORT" entries; empty means /etc/resolv.conf.
	Nameservers []string `toml:"nameservers"`
	// Timeout bounds one query to one server.
	Timeout Duration `toml:"timeout"`
	// CacheBytes bounds the cache by the estimated heap of its answers.
	CacheBytes int64 `toml:"cache_bytes"`
	// CacheMaxAnswerBytes is the largest answer cached; bigger ones are
	// used once and not kept.
	CacheMaxAnswerBytes int `toml:"cache_max_answer_bytes"`
	// CacheSize, deprecated: when positive it also caps the number of
	// answers kept; 0 (the default) leaves cache_bytes alone; a negative
	// value disables the cache.
	CacheSize int `toml:"cache_size"`
	// MaxInflight bounds the queries in flight to nameservers, process-wide.
	MaxInflight int `toml:"max_inflight"`
	// MaxInflightSession bounds them per SMTP session (dnsx.WithSessionLimit).
	MaxInflightSession int `toml:"max_inflight_session"`
}

// defaultDNS is the [dns] table's defaults: dnsx's, so that the resolver
// and a config without [dns] agree.
func defaultDNS() DNS {
	return DNS{
		Timeout:             Duration{dnsx.DefaultTimeout},
		CacheBytes:          dnsx.DefaultCacheBytes,
		CacheMaxAnswerBytes: dnsx.DefaultMaxAnswerBytes,
		MaxInflight:         dnsx.DefaultMaxInflight,
		MaxInflightSession:  dnsx.DefaultMaxInflightSession,
	}
}

// DNSBL configures the DNS blocklist check.
type DNSBL struct {
	Enabled bool `toml:"enabled"`
	// Threshold is the summed zone weight at or above which a client is refused.
	Threshold float64 `toml:"threshold"`
	// HealthInterval is how often each zone is tested the RFC 5782 way.
	HealthInterval Duration    `toml:"health_interval"`
	Zones          []DNSBLZone `toml:"zone"`
}

// DNSBLZone is one [[dnsbl.zone]] entry.
type DNSBLZone struct {
	Name   string   `toml:"name"`
	Weight float64  `toml:"weight"`
	Codes  []string `toml:"codes"`
}

// SenderDomain configures the sender-domain existence check.
type SenderDomain struct {
	Enabled bool `toml:"enabled"`
}

// SPF configures SPF evaluation (RFC 7208).
type SPF struct {
	Enabled bool `toml:"enabled"`
	// RejectFail refuses "fail" with 550 5.7.23; otherwise SPF only records.
	RejectFail bool `toml:"reject_fail"`
	// RejectErrors answers temperror with 451 4.7.24 and permerror with 550 5.7.24.
	RejectErrors bool `toml:"reject_errors"`
}

// Duration is a time.Duration written as "30s" or "5m" in the file.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration (use e.g. \"30s\", \"5m\"): %q", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back in the same form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Default returns the built-in configuration, which `spamgate serve` uses when
// no file is given.
func Default() *Config {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return &Config{
		Milter: Milter{
			Listen:             "inet:127.0.0.1:8891",
			SocketMode:         "0660",
			AuthservID:         host,
			InternalNetworks:   []string{"127.0.0.0/8", "::1/128"},
			CheckTimeout:       Duration{20 * time.Second},
			DrainTimeout:       Duration{30 * time.Second},
			IdleTimeout:        Duration{15 * time.Minute},
			MaxSessions:        1000,
			NegotiateTimeout:   Duration{5 * time.Second},
			MaxUnnegotiated:    256,
			MaxSessionTime:     Duration{time.Hour},
			MaxHeaderBytes:     1 << 20,
			MaxHeaderDeletions: 32,
		},
		Log:          Log{Level: "info", Format: "text"},
		DNS:          defaultDNS(),
		DNSBL:        DNSBL{Enabled: true, Threshold: 1, HealthInterval: Duration{10 * time.Minute}},
		SenderDomain: SenderDomain{Enabled: true},
		SPF:          SPF{Enabled: true},
		DKIM:         defaultDKIM(),
		DMARC:        defaultDMARC(),
		ARC:          defaultARC(),
		Policy:       defaultPolicy(),
		TLSPolicyMap: defaultTLSPolicyMap(),
		IPRev:        defaultIPRev(),
		Greylist:     defaultGreylist(),
		Recipients:   defaultRecipients(),
		Score:        defaultScore(),
		Admin:        defaultAdmin(),
	}
}

// Load reads and validates a configuration file on top of the defaults.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// LoadOrDefault is Load, or the built-in defaults when path is empty: what
// every spamgate command does with its -config flag.
func LoadOrDefault(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	return Load(path)
}

// Parse decodes and validates configuration text; name is used in errors.
func Parse(name string, data []byte) (*Config, error) {
	cfg := Default()
	cfg.File = name
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return nil, decodeError(name, err)
	}
	lines := keyLines(data)
	if errs := cfg.validate(); len(errs) > 0 {
		for i := range errs {
			errs[i].File = name
			errs[i].Line = lines.find(errs[i].Key)
		}
		return nil, errs
	}
	cfg.ruleLines = make([]int, len(cfg.Policy.Rules))
	for i := range cfg.ruleLines {
		cfg.ruleLines[i] = lines.find("policy.rule#" + strconv.Itoa(i))
	}
	return cfg, nil
}

// decodeError turns go-toml's errors into ours, with file and line.
func decodeError(name string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var errs Errors
		for i := range strict.Errors {
			e := &strict.Errors[i]
			line, _ := e.Position()
			errs = append(errs, &Error{File: name, Line: line, Key: strings.Join(e.Key(), "."), Msg: "unknown key"})
		}
		return errs
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		return Errors{{File: name, Line: line, Key: strings.Join(de.Key(), "."), Msg: trimTOML(de.Error())}}
	}
	return Errors{{File: name, Msg: err.Error()}}
}

func trimTOML(s string) string {
	const p = "toml: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
