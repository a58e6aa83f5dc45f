package engine

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"spamgate/config"
	"spamgate/policy"
)

// loadPolicy builds the per-recipient policy: the [[policy.rule]] entries of
// the file first, then the table files, in the order given. Any error keeps
// the caller's old policy in force; warnings (shadowed rules, keys set
// twice) are logged and printed by check-config.
func loadPolicy(cfg *config.Config, log *slog.Logger) (*policy.Policy, []policy.Warning, error) {
	rules := cfg.PolicyRules()
	if len(cfg.Policy.Tables) > 0 {
		table, err := policy.LoadTables(cfg.Policy.Tables)
		if err != nil {
			return nil, nil, fmt.Errorf("policy tables: %w", err)
		}
		rules = append(rules, table...)
	}
	p, warnings, err := policy.New(rules)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: %w", err)
	}
	for _, w := range warnings {
		log.Warn("policy rule", "source", w.Source, "warning", w.Msg)
	}
	return p, warnings, nil
}

// LoadPolicy is loadPolicy for check-config.
func LoadPolicy(cfg *config.Config, log *slog.Logger) (*policy.Policy, []policy.Warning, error) {
	return loadPolicy(cfg, log)
}

// tlsExempt holds the trusted relays whose cleartext deliveries require_tls
// does not refuse.
type tlsExempt struct {
	networks []netip.Prefix
	senders  []string // lower-cased addresses, domains, or .domains
}

func newTLSExempt(c config.Policy) (tlsExempt, error) {
	nets, err := config.ParsePrefixes(c.TLSExemptNetworks)
	if err != nil {
		return tlsExempt{}, fmt.Errorf("tls_exempt_networks: %w", err)
	}
	x := tlsExempt{networks: nets}
	for _, s := range c.TLSExemptSenders {
		x.senders = append(x.senders, strings.ToLower(s))
	}
	return x, nil
}

func (x tlsExempt) match(client netip.Addr, sender string) bool {
	for _, p := range x.networks {
		if p.Contains(client) {
			return true
		}
	}
	sender = strings.ToLower(sender)
	domain := sender[strings.LastIndexByte(sender, '@')+1:]
	for _, s := range x.senders {
		switch {
		case s == sender, s == domain:
			return true
		case strings.HasPrefix(s, ".") && strings.HasSuffix(domain, s):
			return true
		}
	}
	return false
}
