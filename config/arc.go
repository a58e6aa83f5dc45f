package config

import (
	"fmt"
	"strings"
)

// ARC is the [arc] table: Authenticated Received Chains (RFC 8617).
type ARC struct {
	// Enabled verifies the ARC chain of inbound mail and records it as
	// arc=… in Authentication-Results.
	Enabled bool `toml:"enabled"`
	// TrustedSealers are the domains (AS d=) whose sealed verdict may
	// override a DMARC failure: when the chain passes, its newest set was
	// sealed by one of them, and that set's ARC-Authentication-Results
	// records an aligned pass for the From domain, the DMARC policy is not
	// applied (recorded as a trusted_forwarder override).
	TrustedSealers []string `toml:"trusted_sealers"`
	// MaxInstances bounds the chain length verified (RFC 8617's limit,
	// 50, at most); longer chains fail.
	MaxInstances int `toml:"max_instances"`
	// MaxKeyLookups bounds the distinct key records one message's chain
	// may make us fetch. ARC has its own budget, apart from [dkim]
	// max_signatures: an honest chain of N hops needs N+1 signatures.
	MaxKeyLookups int `toml:"max_key_lookups"`
	// SealOutbound seals outbound mail (internal networks, SASL): a list
	// server or forwarder behind this Postfix re-sends through it.
	SealOutbound bool `toml:"seal_outbound"`
	// ForwardedDomains are recipient domains whose inbound mail is
	// forwarded on unchanged (aliases to outside mailboxes): it is sealed
	// on the way in.
	ForwardedDomains []string `toml:"forwarded_domains"`
	// SealerDomain is d= of our seals; its key comes from [[arc.key]],
	// else from the DKIM keys ([[dkim.key]], keys_dir). RSA is preferred:
	// few verifiers accept ed25519 in ARC.
	SealerDomain string `toml:"sealer_domain"`
	// Keys are seal keys apart from the DKIM keys.
	Keys []DKIMKey `toml:"key"`
}

func defaultARC() ARC { return ARC{Enabled: true, MaxInstances: 50, MaxKeyLookups: 10} }

// Sealing reports whether any mail is to be sealed.
func (a ARC) Sealing() bool { return a.SealOutbound || len(a.ForwardedDomains) > 0 }

func (c *Config) validateARC(bad func(key, format string, args ...any)) {
	a := c.ARC
	if a.MaxInstances < 1 || a.MaxInstances > 50 {
		bad("arc.max_instances", "%d is not between 1 and 50 (RFC 8617 4.2.1)", a.MaxInstances)
	}
	if a.MaxKeyLookups < 1 || a.MaxKeyLookups > 51 {
		bad("arc.max_key_lookups", "%d is not between 1 and 51", a.MaxKeyLookups)
	}
	for _, d := range a.TrustedSealers {
		if !plausibleDomain(d) {
			bad("arc.trusted_sealers", "%q is not a domain name", d)
		}
	}
	for _, d := range a.ForwardedDomains {
		if !plausibleDomain(d) {
			bad("arc.forwarded_domains", "%q is not a domain name", d)
		}
	}
	if a.Sealing() && a.SealerDomain == "" {
		bad("arc.sealer_domain", "sealing is on (seal_outbound or forwarded_domains) but no sealer_domain names the key")
	}
	if a.SealerDomain != "" && !plausibleDomain(a.SealerDomain) {
		bad("arc.sealer_domain", "%q is not a domain name", a.SealerDomain)
	}
	for i, k := range a.Keys {
		if k.Domain == "" || k.Selector == "" || k.File == "" {
			bad(fmt.Sprintf("arc.key#%d", i), "domain, selector and file are all required")
		}
	}
}

// plausibleDomain accepts a DNS name: dot-separated labels of letters,
// digits, "-" and "_", no empty label, at most 253 characters.
func plausibleDomain(d string) bool {
	d = strings.TrimSuffix(d, ".")
	if d == "" || len(d) > 253 {
		return false
	}
	for l := range strings.SplitSeq(d, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
