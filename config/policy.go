package config

import (
	"fmt"
	"net/netip"
	"time"

	"spamgate/policy"
)

// Policy is the [policy] table: per-recipient rules and where they come from.
type Policy struct {
	// Tables are Postfix-style table files ("key  setting=value,…"), for
	// hosting panels that generate thousands of entries. They are read after
	// the [[policy.rule]] entries of this file.
	Tables []string `toml:"tables"`
	// WatchInterval is how often the table files are checked for changes;
	// a change reloads the policy without a restart.
	WatchInterval Duration `toml:"watch_interval"`
	// TLSExemptNetworks and TLSExemptSenders are trusted relays whose
	// cleartext deliveries are not refused by require_tls (off by default).
	TLSExemptNetworks []string `toml:"tls_exempt_networks"`
	TLSExemptSenders  []string `toml:"tls_exempt_senders"`
	// TLSExemptSendersSPF: a tls_exempt_senders entry exempts a message only
	// when SPF passes for its MAIL FROM domain. The envelope sender is
	// anyone's to claim; without SPF it is no proof of a trusted relay.
	TLSExemptSendersSPF bool         `toml:"tls_exempt_senders_spf"`
	Rules               []PolicyRule `toml:"rule"`
	// Redis, when it has addresses, is a third source of rules: one hash
	// per key, written by a hosting panel, in force at once.
	Redis PolicyRedis `toml:"redis"`
}

// PolicyRedis is the [policy.redis] table.
type PolicyRedis struct {
	Addresses    []string `toml:"addresses"`     // "HOST:PORT"; empty: no Redis source
	MasterName   string   `toml:"master_name"`   // Sentinel: addresses are the sentinels
	Cluster      bool     `toml:"cluster"`       // several addresses form a Redis Cluster
	PasswordFile string   `toml:"password_file"` // the password, alone in a file
	DB           int      `toml:"db"`
	KeyPrefix    string   `toml:"key_prefix"`
	Timeout      Duration `toml:"timeout"` // one lookup (one round trip)
	// OnError: "tempfail" (default) answers 451 4.3.0 when Redis cannot be
	// asked, so that no mail for a TLS-only customer is accepted in
	// cleartext by mistake (and none is lost: the sender retries);
	// "ignore" goes on with the file's rules.
	OnError string `toml:"on_error"`
}

// PolicyRule is one [[policy.rule]] entry.
type PolicyRule struct {
	// Recipient is "user@example.org", "example.org", ".example.org"
	// (subdomains) or "*" (every recipient).
	Recipient string `toml:"recipient"`
	// Sender and ClientNetwork are optional conditions.
	Sender        string `toml:"sender,omitempty"`
	ClientNetwork string `toml:"client_network,omitempty"`
	policy.Settings
}

// TLSPolicyMap is the [tls_policy_map] table: the socketmap service that
// answers Postfix's smtp_tls_policy_maps from the same policy.
type TLSPolicyMap struct {
	Enabled bool `toml:"enabled"`
	// Listen is "inet:HOST:PORT" or "unix:PATH"; main.cf then says
	// smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8892:tlspolicy
	Listen string `toml:"listen"`
	// MapName is the name Postfix asks for (the last part of the socketmap: entry).
	MapName string `toml:"map_name"`
	// MTASTS answers from the next hop's MTA-STS policy (RFC 8461) when no
	// rule of ours names the domain.
	MTASTS bool `toml:"mta_sts"`
	// MTASTSCAFile is a PEM bundle to verify MTA-STS policy servers with
	// instead of the system's roots.
	MTASTSCAFile string `toml:"mta_sts_ca_file"`
	// MTASTSMaxFetches is the most MTA-STS policy fetches running at once;
	// a lookup that needs one more answers NOTFOUND at once (Postfix's own
	// TLS level) and a later lookup fetches.
	MTASTSMaxFetches int `toml:"mta_sts_max_fetches"`
	// MaxConnections caps the open socketmap connections; one more is
	// closed at accept (Postfix defers that delivery and retries). Postfix
	// holds one per smtp process (default_process_limit 100).
	MaxConnections int `toml:"max_connections"`
	// DANE answers "dane" (or "dane-only" for a domain whose rule requires
	// TLS) when the next hop's MX hosts publish DNSSEC-validated TLSA
	// records (RFC 7672), before MTA-STS and require_tls.
	DANE bool `toml:"dane"`
	// DNSSECNameservers are the validating resolvers ("IP:PORT") whose AD
	// bit is believed, and the only ones asked for DANE; [dns] nameservers
	// are never used for it. Required with dane = true.
	DNSSECNameservers []string `toml:"dnssec_nameservers"`
	// DNSSECTimeout bounds one exchange with a validating resolver.
	DNSSECTimeout Duration `toml:"dnssec_timeout"`
	// TLSRPT adds Postfix 3.10's TLSRPT attributes (policy_type=sts,
	// policy_domain, policy_ttl, mx_host_pattern, policy_string) to MTA-STS
	// answers. Off by default: Postfix before 3.10 does not know them.
	TLSRPT bool `toml:"tlsrpt"`
	// Nexthop holds policies for relayhost-style destinations that are not
	// domains, e.g. "[smarthost.example.net]:587".
	Nexthop []NexthopPolicy `toml:"nexthop"`
}

// NexthopPolicy is one [[tls_policy_map.nexthop]] entry.
type NexthopPolicy struct {
	Nexthop string `toml:"nexthop"`
	Policy  string `toml:"policy"`
}

func defaultPolicy() Policy {
	return Policy{WatchInterval: Duration{5 * time.Second}, TLSExemptSendersSPF: true,
		Redis: PolicyRedis{KeyPrefix: "spamgate:policy:", Timeout: Duration{200 * time.Millisecond}, OnError: "tempfail"}}
}

func defaultTLSPolicyMap() TLSPolicyMap {
	return TLSPolicyMap{Listen: "inet:127.0.0.1:8892", MapName: "tlspolicy", MTASTSMaxFetches: 16, MaxConnections: 200,
		DNSSECTimeout: Duration{2 * time.Second}}
}

// PolicyRules turns the [[policy.rule]] entries into policy rules whose
// Source names this file and the line of the entry.
func (c *Config) PolicyRules() []policy.Rule {
	out := make([]policy.Rule, 0, len(c.Policy.Rules))
	for i, r := range c.Policy.Rules {
		rule := policy.Rule{Recipient: r.Recipient, Sender: r.Sender, Settings: r.Settings,
			Source: fmt.Sprintf("%s:%d", c.File, c.ruleLines[i])}
		if r.ClientNetwork != "" {
			rule.ClientNetwork, _ = parsePrefix(r.ClientNetwork) // validated
		}
		out = append(out, rule)
	}
	return out
}

func (c *Config) validatePolicy(bad func(key, format string, args ...any)) {
	positive(bad, "policy.watch_interval", c.Policy.WatchInterval, time.Hour)
	if _, err := ParsePrefixes(c.Policy.TLSExemptNetworks); err != nil {
		bad("policy.tls_exempt_networks", "%v", err)
	}
	for i, r := range c.Policy.Rules {
		key := fmt.Sprintf("policy.rule#%d", i)
		if r.Recipient == "" {
			bad(key+".recipient", "recipient is required (an address, a domain, .domain or *)")
		}
		if r.ClientNetwork != "" {
			if _, err := parsePrefix(r.ClientNetwork); err != nil {
				bad(key+".client_network", "%v", err)
			}
		}
		if err := r.Settings.Validate(); err != nil {
			bad(key, "%v", err)
		}
	}
	if r := c.Policy.Redis; len(r.Addresses) > 0 {
		validateRedis(bad, "policy.redis", r.Addresses, r.Cluster, r.MasterName)
		positive(bad, "policy.redis.timeout", r.Timeout, time.Minute)
		if r.OnError != "tempfail" && r.OnError != "ignore" {
			bad("policy.redis.on_error", "%q is not tempfail or ignore", r.OnError)
		}
	}
	m := c.TLSPolicyMap
	if m.Enabled {
		if _, _, err := ParseListen(m.Listen); err != nil {
			bad("tls_policy_map.listen", "%v", err)
		}
		if m.MapName == "" {
			bad("tls_policy_map.map_name", "must not be empty")
		}
		if m.MTASTSMaxFetches < 1 || m.MTASTSMaxFetches > 1024 {
			bad("tls_policy_map.mta_sts_max_fetches", "%d is not between 1 and 1024", m.MTASTSMaxFetches)
		}
		if m.MaxConnections < 1 || m.MaxConnections > 10000 {
			bad("tls_policy_map.max_connections", "%d is not between 1 and 10000", m.MaxConnections)
		}
	}
	validateDNSSEC(bad, m)
	for i, n := range m.Nexthop {
		key := fmt.Sprintf("tls_policy_map.nexthop#%d", i)
		s := policy.Settings{OutboundTLS: n.Policy}
		if n.Nexthop == "" || n.Policy == "" {
			bad(key, "nexthop and policy are both required")
		} else if err := s.Validate(); err != nil {
			bad(key+".policy", "%v", err)
		}
	}
}

// validateDNSSEC: DANE trusts the AD bit, so it needs a validating
// resolver named for it; falling back to [dns] nameservers would believe
// whatever resolver /etc/resolv.conf names.
func validateDNSSEC(bad func(key, format string, args ...any), m TLSPolicyMap) {
	if m.DANE && len(m.DNSSECNameservers) == 0 {
		bad("tls_policy_map.dane", "dane = true needs dnssec_nameservers: the validating resolver (e.g. a local unbound, [\"127.0.0.1:53\"]) whose AD bit is trusted")
	}
	for _, ns := range m.DNSSECNameservers {
		if _, err := netip.ParseAddrPort(ns); err != nil {
			bad("tls_policy_map.dnssec_nameservers", "%q is not IP:PORT (e.g. \"127.0.0.1:53\")", ns)
		}
	}
	positive(bad, "tls_policy_map.dnssec_timeout", m.DNSSECTimeout, time.Minute)
}

func parsePrefix(s string) (netip.Prefix, error) {
	p, err := ParsePrefixes([]string{s})
	if err != nil {
		return netip.Prefix{}, err
	}
	return p[0], nil
}
