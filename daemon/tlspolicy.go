package daemon

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"spamgate/config"
	"spamgate/dane"
	"spamgate/dnsx"
	"spamgate/milter"
	"spamgate/mtasts"
	"spamgate/policy"
	"spamgate/socketmap"
)

// tlsPolicyMap is the socketmap service behind Postfix's
// smtp_tls_policy_maps: the outbound half of the encrypted-delivery policy.
type tlsPolicyMap struct {
	d      *Daemon
	srv    *socketmap.Server
	ln     net.Listener
	out    outbound
	mtasts *mtasts.Client // out.mtasts, for the metrics (observe.go)
	// answers counts answers by source (nexthop, rule, dane, mta-sts,
	// rule-require-tls, temp, notfound); nil without a metrics registry.
	answers *prometheus.CounterVec
	served  chan error
}

func (d *Daemon) startTLSPolicyMap(cfg *config.Config) error {
	m := cfg.TLSPolicyMap
	if !m.Enabled {
		return nil
	}
	t := &tlsPolicyMap{d: d, served: make(chan error, 1)}
	out, err := newOutbound(m, d.resolver, d.log)
	if err != nil {
		return err
	}
	t.out, t.mtasts = out, out.mtasts
	if out.mtasts != nil {
		go out.mtasts.Run(d.ctx, 0) // refreshes cached policies before they expire
	}
	perm, _ := cfg.Milter.SocketPerm()
	ln, err := milter.Listen(m.Listen, os.FileMode(perm))
	if err != nil {
		return fmt.Errorf("tls_policy_map: %w", err)
	}
	t.ln = ln
	t.srv = socketmap.NewServer(t.answer, d.log.With("service", "tls_policy_map"))
	t.srv.MaxConnections = m.MaxConnections
	if reg := d.metrics.Registry(); reg != nil {
		reg.MustRegister(t.srv.Collectors()...)
		t.answers = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "spamgate_tls_policy_answers_total",
			Help: "smtp_tls_policy_maps answers by the source that decided them."}, []string{"source"})
		reg.MustRegister(t.answers)
	}
	go func() { t.served <- t.srv.Serve(ln) }()
	d.mu.Lock() // /metrics may already be reading it (storeStats)
	d.tlsMap = t
	d.mu.Unlock()
	d.log.Info("tls policy map started", "listen", m.Listen, "addr", ln.Addr().String(), "map", m.MapName, "mta_sts", m.MTASTS, "dane", m.DANE)
	return nil
}

// daneBudget bounds one domain's DANE lookups (MX, then A/AAAA/TLSA of
// the MX hosts concurrently).
const daneBudget = 5 * time.Second

// outbound decides smtp_tls_policy_maps answers: the socketmap of serve
// and explain -outbound go through it.
type outbound struct {
	log    *slog.Logger
	mtasts *mtasts.Client // nil unless [tls_policy_map] mta_sts
	dane   *dane.Resolver // nil unless [tls_policy_map] dane
}

func newOutbound(m config.TLSPolicyMap, res *dnsx.Resolver, log *slog.Logger) (outbound, error) {
	o := outbound{log: log}
	if m.MTASTS {
		c, err := newMTASTS(m, res, log)
		if err != nil {
			return o, err
		}
		o.mtasts = c
	}
	if m.DANE {
		o.dane = dane.NewResolver(m.DNSSECNameservers, m.DNSSECTimeout.Duration)
	}
	return o, nil
}

func newMTASTS(m config.TLSPolicyMap, res *dnsx.Resolver, log *slog.Logger) (*mtasts.Client, error) {
	// The fetch must end before the socketmap request deadline (10s), so
	// that Postfix gets an answer, not TIMEOUT, on a first slow fetch.
	o := mtasts.Options{Resolver: res, Log: log.With("service", "mta-sts"), Timeout: 8 * time.Second,
		MaxFetches: m.MTASTSMaxFetches}
	if m.MTASTSCAFile != "" {
		pem, err := os.ReadFile(m.MTASTSCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls_policy_map.mta_sts_ca_file: %w", err)
		}
		o.RootCAs = x509.NewCertPool()
		if !o.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls_policy_map.mta_sts_ca_file %s: no PEM certificate in it", m.MTASTSCAFile)
		}
	}
	return mtasts.New(o), nil
}

// TLSPolicyMapAddr is the address the tls policy map listens on, or nil.
func (d *Daemon) TLSPolicyMapAddr() net.Addr {
	if d.tlsMap == nil {
		return nil
	}
	return d.tlsMap.ln.Addr()
}

// answer is one smtp_tls_policy_maps lookup. Postfix asks with the next-hop
// destination: a domain ("example.org"), or a relayhost/transport next hop
// ("[mx.example.net]:587"). dane.Decide picks the answer, strongest first:
// a [[tls_policy_map.nexthop]] entry, the rule's explicit outbound_tls,
// DANE, MTA-STS enforce, the rule's require_tls ("encrypt"). Nothing found:
// NOTFOUND, Postfix's own default.
func (t *tlsPolicyMap) answer(ctx context.Context, mapName, key string) socketmap.Reply {
	cfg := t.d.Config()
	if mapName != cfg.TLSPolicyMap.MapName {
		return socketmap.Perm("unknown map " + mapName)
	}
	key = strings.ToLower(strings.TrimSpace(key))
	d, _ := t.out.decide(ctx, cfg, t.d.Engine().Policy(), key, false)
	t.d.log.Debug("tls policy", "nexthop", key, "status", d.Status, "policy", d.Policy, "source", d.Source, "why", d.Why)
	if t.answers != nil {
		t.answers.WithLabelValues(d.Source).Inc()
	}
	if d.Status == socketmap.StatusTemp {
		t.d.log.Warn("tls policy: deferring a require_tls domain", "nexthop", key, "why", d.Why)
		// Postfix logs the reason with the deferral; the DNS details are in our log.
		return socketmap.Temp("DNSSEC lookup failed for a domain that requires TLS")
	}
	return socketmap.Reply{Status: d.Status, Value: d.Policy}
}

// decide gathers the inputs in precedence order. Unless all is set (for
// explain's warning), DANE and MTA-STS are looked up only when nothing
// stronger has answered.
func (o outbound) decide(ctx context.Context, cfg *config.Config, pol *policy.Policy, key string, all bool) (dane.Decision, dane.Inputs) {
	var in dane.Inputs
	for _, n := range cfg.TLSPolicyMap.Nexthop {
		if strings.EqualFold(n.Nexthop, key) {
			in.Nexthop = n.Policy
			return dane.Decide(in), in
		}
	}
	domain, bracketed := nexthopDomain(key)
	if rule := pol.LookupDomain(domain); rule != nil {
		in.RuleSource = rule.Source
		in.RuleExplicit = rule.OutboundTLS
		in.RequireTLS = rule.RequireTLS != nil && *rule.RequireTLS
		if rule.MinTLSVersion != "" {
			in.Protocols = ">=" + rule.MinTLSVersion
		}
		if in.RuleExplicit != "" && !all {
			return dane.Decide(in), in
		}
	}
	// DANE and MTA-STS are about MX delivery: a bracketed next hop (no MX
	// lookup) is outside them here (RFC 8461 section 4 matches MX host
	// names; DANE for a bracketed host is left to Postfix's own level).
	// After a NOTFOUND for "a.example.org" Postfix asks again for
	// ".example.org" (its parent-domain match): a table key, not a name
	// to look up (the e2e test saw DANE lookups of ".test" fail as errors).
	if bracketed || strings.HasPrefix(domain, ".") {
		return dane.Decide(in), in
	}
	if o.dane != nil {
		// Within the socketmap's 10 s, leaving MTA-STS time to answer: a
		// DANE lookup cut short is an error (TEMP or NOTFOUND), not TIMEOUT.
		dctx, cancel := context.WithTimeout(ctx, daneBudget)
		r := o.dane.Lookup(dctx, domain)
		cancel()
		in.DANE = &r
		if r.Usable() && !all {
			return dane.Decide(in), in
		}
		if r.Err != nil {
			o.log.Warn("dane lookup failed", "domain", domain, "error", r.Err)
		}
	}
	// A require_tls domain whose DNSSEC failed is TEMP whatever MTA-STS says.
	if o.mtasts != nil && (all || !(in.RequireTLS && in.DANE != nil && in.DANE.Err != nil)) {
		p, err := o.mtasts.Lookup(ctx, domain)
		if err != nil {
			o.log.Warn("mta-sts lookup failed; delivering without it", "domain", domain, "error", err)
		} else if p != nil {
			in.MTASTS, in.MTASTSID = p.PostfixPolicy(), p.ID
		}
	}
	return dane.Decide(in), in
}

// OutboundExplanation is the smtp_tls_policy_maps answer for a next hop
// and what it was made from.
type OutboundExplanation struct {
	Nexthop  string
	Decision dane.Decision
	Inputs   dane.Inputs
	// Warning is set when the rule's explicit outbound_tls is weaker than
	// what the domain publishes.
	Warning string
}

// ExplainOutbound answers as the tls policy map of serve would, looking
// every source up (DANE and MTA-STS too when a rule has already decided),
// and warns when a rule's explicit outbound_tls is weaker than them.
func ExplainOutbound(ctx context.Context, cfg *config.Config, pol *policy.Policy, res *dnsx.Resolver, log *slog.Logger, key string) (OutboundExplanation, error) {
	o, err := newOutbound(cfg.TLSPolicyMap, res, log)
	if err != nil {
		return OutboundExplanation{}, err
	}
	key = strings.ToLower(strings.TrimSpace(key))
	d, in := o.decide(ctx, cfg, pol, key, true)
	e := OutboundExplanation{Nexthop: key, Decision: d, Inputs: in}
	if in.Nexthop == "" {
		e.Warning = dane.Weaker(in.RuleExplicit, in)
	}
	return e, nil
}

// nexthopDomain reduces "[host]:port", "host:port" and "[host]" to the host.
func nexthopDomain(key string) (domain string, bracketed bool) {
	if strings.HasPrefix(key, "[") {
		if end := strings.IndexByte(key, ']'); end > 0 {
			return key[1:end], true
		}
	}
	if host, _, err := net.SplitHostPort(key); err == nil {
		return host, false
	}
	return strings.TrimSuffix(key, "."), false
}

func (t *tlsPolicyMap) shutdown(ctx context.Context) error {
	err := t.srv.Shutdown(ctx)
	<-t.served
	return err
}
