package engine

import (
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"

	"spamgate/admin/rulefile"
	"spamgate/checks"
	"spamgate/config"
	"spamgate/policy"
	"spamgate/policyredis"
	"spamgate/spf"
)

// LoadPolicy builds the per-recipient policy: the [[policy.rule]] entries of
// the file first, then the table files, in the order given. Any error keeps
// the caller's old policy in force; warnings (shadowed rules, keys set
// twice) are logged, and check-config prints them.
func LoadPolicy(cfg *config.Config, log *slog.Logger) (*policy.Policy, []policy.Warning, error) {
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

// tlsExempt holds the trusted relays whose cleartext deliveries require_tls
// does not refuse.
type tlsExempt struct {
	networks []netip.Prefix
	senders  []string // lower-cased addresses, domains, or .domains
	// senderSPF: a sender entry counts only when SPF passes for the
	// MAIL FROM domain ([policy] tls_exempt_senders_spf).
	senderSPF bool
}

func newTLSExempt(c config.Policy) (tlsExempt, error) {
	nets, err := config.ParsePrefixes(c.TLSExemptNetworks)
	if err != nil {
		return tlsExempt{}, fmt.Errorf("tls_exempt_networks: %w", err)
	}
	x := tlsExempt{networks: nets, senderSPF: c.TLSExemptSendersSPF}
	for _, s := range c.TLSExemptSenders {
		x.senders = append(x.senders, strings.ToLower(s))
	}
	return x, nil
}

func (x tlsExempt) network(client netip.Addr) bool {
	for _, p := range x.networks {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

func (x tlsExempt) sender(sender string) bool {
	if sender == "" {
		return false
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

// redisSource connects the [policy.redis] source, or takes over the one of
// the engine in force when its settings did not change (a reload must not
// drop and redial the connections).
func redisSource(c config.PolicyRedis, prev *Engine) (*policyredis.Source, error) {
	if len(c.Addresses) == 0 {
		return nil, nil
	}
	if prev != nil && prev.redis != nil && reflect.DeepEqual(prev.cfg.Policy.Redis, c) {
		prev.redisTaken = true
		return prev.redis, nil
	}
	o := policyredis.Options{Addresses: c.Addresses, MasterName: c.MasterName, Cluster: c.Cluster,
		DB: c.DB, KeyPrefix: c.KeyPrefix, Timeout: c.Timeout.Duration}
	if c.PasswordFile != "" {
		var err error
		if o.Password, err = config.ReadSecret(c.PasswordFile); err != nil {
			return nil, fmt.Errorf("policy.redis.password_file: %w", err)
		}
	}
	src, err := policyredis.New(o)
	if err != nil {
		return nil, fmt.Errorf("policy.redis: %w", err)
	}
	return src, nil
}

// tlsExempted reports whether require_tls is waived for this transaction:
// the client is in tls_exempt_networks, or the sender is in
// tls_exempt_senders and (with tls_exempt_senders_spf) SPF passed for its
// domain. Only then is the envelope waited for: anyone can write an exempt
// sender into MAIL FROM.
func (s *Session) tlsExempted() bool {
	x, m := s.e.exempt, s.msg
	if x.network(s.client.Addr) {
		return true
	}
	if !x.sender(m.sender) {
		return false
	}
	if !x.senderSPF {
		return true
	}
	s.waitEnvelope()
	o := m.spfOut
	return o != nil && o.Result == spf.Pass && o.Identity != spf.IdentityHelo
}

// adminRuleSource opens the [admin] rules_file source, or takes over the
// engine in force's when the file is the same: the console changes that
// Store live, and a reload must not lose it. Taken over, it reads the file
// again (a reload is how a hand edit takes effect); a broken file fails
// the reload and the rules in force stay.
func adminRuleSource(path string, prev *Engine) (*rulefile.Store, error) {
	if path == "" {
		return nil, nil
	}
	if prev != nil && prev.adminRules != nil && prev.adminRules.Path() == path {
		if err := prev.adminRules.Reload(); err != nil {
			return nil, fmt.Errorf("admin.rules_file: %w", err)
		}
		return prev.adminRules, nil
	}
	s, err := rulefile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("admin.rules_file: %w", err)
	}
	return s, nil
}

// replyPolicyUnavailable answers a recipient whose policy cannot be read.
var replyPolicyUnavailable = checks.Reply{Code: 451, Status: "4.3.0", Text: "Recipient policy temporarily unavailable, try again later"}

// lookupRule finds the recipient's rule: the most specific of the admin
// source's rule, the file policy's and the Redis source's; at the same key
// the admin source's wins, then the file's. When Redis cannot be asked,
// on_error decides: tempfail gives a reply, ignore goes on with the
// others' rule.
func (s *Session) lookupRule(rcpt string) (*policy.Rule, *checks.Reply) {
	m := s.msg
	if m.outbound {
		return nil, nil // trusted: no policy applies (see Session.verdicts)
	}
	rule := s.e.policy.Lookup(rcpt, m.sender, s.client.Addr)
	if ar := s.e.adminRules.Lookup(rcpt, m.sender, s.client.Addr); ar != nil &&
		(rule == nil || policy.KeyRank(rcpt, ar.Recipient) <= policy.KeyRank(rcpt, rule.Recipient)) {
		rule = ar
	}
	if s.e.redis == nil {
		return rule, nil
	}
	rr, err := s.e.redis.Lookup(m.ctx, rcpt)
	if err != nil {
		if s.e.cfg.Policy.Redis.OnError == "tempfail" {
			s.log.Warn("policy source unavailable, tempfailing", s.attrs(slog.String("rcpt", rcpt), slog.String("error", err.Error()))...)
			return nil, &replyPolicyUnavailable
		}
		s.log.Warn("policy source unavailable, using the file rules", s.attrs(slog.String("rcpt", rcpt), slog.String("error", err.Error()))...)
		return rule, nil
	}
	if rr != nil && (rule == nil || policy.KeyRank(rcpt, rr.Recipient) < policy.KeyRank(rcpt, rule.Recipient)) {
		return rr, nil
	}
	return rule, nil
}
