package config

import (
	"fmt"
	"strings"
	"time"
)

// DKIM is the [dkim] table: verification of inbound mail and signing of
// outbound mail.
type DKIM struct {
	// Enabled verifies every DKIM-Signature of inbound mail.
	Enabled bool `toml:"enabled"`
	// MaxSignatures caps the signatures verified per message, so that a
	// message with a hundred signatures costs little.
	MaxSignatures int `toml:"max_signatures"`
	// MaxBodyBytes bounds the body bytes hashed per message. The
	// signatures of a longer body are reported as dkim=policy and count as
	// unknown, not failed, for DMARC.
	MaxBodyBytes int64 `toml:"max_body_bytes"`
	// Keys sign outbound mail (internal networks, SASL-authenticated
	// sessions) whose From domain has a key; several keys of one domain
	// (rsa and ed25519) sign together.
	Keys []DKIMKey `toml:"key"`
	// KeysDir is the key table of a host signing for many domains:
	// KEYS_DIR/DOMAIN/SELECTOR.pem (see package dkimkeys for which key
	// signs). A [[dkim.key]] of the same domain wins over it.
	KeysDir string `toml:"keys_dir"`
	// KeysWatchInterval is how often keys_dir is polled for changes; 0
	// reloads it on SIGHUP only.
	KeysWatchInterval Duration `toml:"keys_watch_interval"`
}

// DKIMKey is one [[dkim.key]] entry.
type DKIMKey struct {
	Domain   string `toml:"domain"`
	Selector string `toml:"selector"`
	File     string `toml:"file"` // PEM private key, readable by spamgate only
}

// DMARC is the [dmarc] table.
type DMARC struct {
	Enabled bool `toml:"enabled"`
	// Enforce applies p=reject and p=quarantine; false only records the
	// result (with policy.dmarc=) in Authentication-Results.
	Enforce bool `toml:"enforce"`
	// QuarantineAction is what p=quarantine does: "tag" (headers for the
	// user's filters) or "quarantine" (Postfix's hold queue).
	QuarantineAction string `toml:"quarantine_action"`
	// HistoryDir, when set, records every evaluation (one JSON line each,
	// a file per day) for `spamgate dmarc report` (RFC 9990 aggregate reports).
	HistoryDir string `toml:"history_dir"`
	// HistoryDays is how many past UTC days of history files are kept
	// besides today's; older ones are deleted at start and hourly. 0
	// keeps every file (for sites that archive the history themselves).
	HistoryDays int `toml:"history_days"`
	// MultipleFrom is what a message with more than one From field gets:
	// "reject" (550 5.7.1; RFC 5322 3.6 allows one, and which one a mail
	// client shows is anyone's guess) or "evaluate" (every domain of every
	// From field is evaluated, the strictest disposition wins).
	MultipleFrom string `toml:"multiple_from"`
	// NoFromDomain is what a message gets whose From field names no domain
	// at all (absent, empty, "undisclosed"): "reject" (550 5.7.1 when DMARC
	// is enforced) or "none" (dmarc=permerror, no policy applied).
	NoFromDomain string `toml:"no_from_domain"`
	// MaxFromDomains bounds the distinct domains one From field may name;
	// each costs DMARC lookups. More is refused like multiple_from = "reject".
	MaxFromDomains int `toml:"max_from_domains"`
	// OnTemperror is what an enforced DMARC temperror (DNS trouble for the
	// policy record or for a key that might have aligned) gets unless the
	// record was read and cannot ask for reject: "tempfail" (451 4.7.5, the
	// sender retries) or "accept" (delivered, recorded). An attacker who
	// can slow lookups down must not turn a p=reject into a delivery.
	OnTemperror string `toml:"on_temperror"`
}

func defaultDKIM() DKIM {
	return DKIM{Enabled: true, MaxSignatures: 5, MaxBodyBytes: 64 << 20, KeysWatchInterval: Duration{10 * time.Second}}
}
func defaultDMARC() DMARC {
	return DMARC{Enabled: true, Enforce: true, QuarantineAction: "tag", MultipleFrom: "reject",
		NoFromDomain: "reject", MaxFromDomains: 5, OnTemperror: "tempfail", HistoryDays: 7}
}

func (c *Config) validateAuth(bad func(key, format string, args ...any)) {
	if c.DKIM.MaxSignatures < 1 || c.DKIM.MaxSignatures > 50 {
		bad("dkim.max_signatures", "%d is not between 1 and 50", c.DKIM.MaxSignatures)
	}
	if c.DKIM.MaxBodyBytes < 1<<20 {
		bad("dkim.max_body_bytes", "%d is under 1048576: ordinary messages would go unverified", c.DKIM.MaxBodyBytes)
	}
	seen := map[string]bool{}
	for i, k := range c.DKIM.Keys {
		key := fmt.Sprintf("dkim.key#%d", i)
		if k.Domain == "" || k.Selector == "" || k.File == "" {
			bad(key, "domain, selector and file are all required")
			continue
		}
		id := strings.ToLower(k.Selector + "._domainkey." + k.Domain)
		if seen[id] {
			bad(key, "selector %s of %s is listed twice", k.Selector, k.Domain)
		}
		seen[id] = true
	}
	if d := c.DKIM.KeysWatchInterval.Duration; d < 0 || d > time.Hour {
		bad("dkim.keys_watch_interval", "%v is not between 0 (SIGHUP only) and 1h", d)
	}
	if a := c.DMARC.QuarantineAction; a != "tag" && a != "quarantine" {
		bad("dmarc.quarantine_action", "%q is not tag or quarantine", a)
	}
	if a := c.DMARC.MultipleFrom; a != "reject" && a != "evaluate" {
		bad("dmarc.multiple_from", "%q is not reject or evaluate", a)
	}
	if a := c.DMARC.NoFromDomain; a != "reject" && a != "none" {
		bad("dmarc.no_from_domain", "%q is not reject or none", a)
	}
	if a := c.DMARC.OnTemperror; a != "tempfail" && a != "accept" {
		bad("dmarc.on_temperror", "%q is not tempfail or accept", a)
	}
	if n := c.DMARC.HistoryDays; n < 0 || n > 3660 {
		bad("dmarc.history_days", "%d is not between 0 (keep every day) and 3660", n)
	}
	if n := c.DMARC.MaxFromDomains; n < 1 || n > 50 {
		bad("dmarc.max_from_domains", "%d is not between 1 and 50", n)
	}
}
