package daemon

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
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
	d, _, sts := t.out.decide(ctx, cfg, t.d.Engine().Policy(), key, false)
	t.d.log.Debug("tls policy", "nexthop", key, "status", d.Status, "policy", d.Policy, "source", d.Source, "why", d.Why)
	if t.answers != nil {
		t.answers.WithLabelValues(d.Source).Inc()
	}
	if d.Status == socketmap.StatusTemp {
		t.d.log.Warn("tls policy: deferring a require_tls domain", "nexthop", key, "why", d.Why)
		// Postfix logs the reason with the deferral; the DNS details are in our log.
		return socketmap.Temp("DNSSEC lookup failed for a domain that requires TLS")
	}
	value := d.Policy
	if cfg.TLSPolicyMap.TLSRPT && d.Source == dane.SourceMTASTS && sts != nil {
		domain, _ := nexthopDomain(key)
		value += tlsrptAttributes(domain, sts, time.Now())
	}
	return socketmap.Reply{Status: d.Status, Value: value}
}

// tlsrptMaxTTL caps policy_ttl: our answer for a domain can change before
// its MTA-STS policy expires (TLSA records published, a rule edited), and
// Postfix caches the answer that long in each smtp process.
const tlsrptMaxTTL = time.Hour

// tlsrptAttributes are the TLSRPT attributes Postfix 3.10 takes after an
// MTA-STS answer (TLSRPT_README, "MTA-STS Support via smtp_tls_policy_maps"):
// policy_type=sts, policy_domain, policy_ttl (seconds), one mx_host_pattern
// per mx: line and one "{ policy_string = LINE }" per policy line (RFC 8460
// 4.4). On any other answer they are an error (TLSRPT_README; DANE Postfix
// reports itself).
// The lines are rebuilt from the parsed policy: unknown extension fields are
// left out, and a value with a brace (which would end Postfix's { } quoting)
// cannot occur in a parsed host pattern.
func tlsrptAttributes(domain string, p *mtasts.Policy, now time.Time) string {
	ttl := min(p.Expires().Sub(now), tlsrptMaxTTL)
	ttl = max(ttl, time.Second)
	var b strings.Builder
	fmt.Fprintf(&b, " policy_type=sts policy_domain=%s policy_ttl=%d", domain, int(ttl.Seconds()))
	for _, mx := range p.MX {
		b.WriteString(" mx_host_pattern=" + mx)
	}
	lines := []string{"version: " + p.Version, "mode: " + p.Mode}
	for _, mx := range p.MX {
		lines = append(lines, "mx: "+mx)
	}
	lines = append(lines, "max_age: "+strconv.Itoa(int(p.MaxAge.Seconds())))
	for _, l := range lines {
		if !strings.ContainsAny(l, "{}") {
			b.WriteString(" { policy_string = " + l + " }")
		}
	}
	return b.String()
}

// decide gathers the inputs in precedence order. Unless all is set (for
// explain's warning), DANE and MTA-STS are looked up only when nothing
// stronger has answered.
//
// The MTA-STS policy is returned when one was looked up (for the TLSRPT
// attributes).
func (o outbound) decide(ctx context.Context, cfg *config.Config, pol *policy.Policy, key string, all bool) (dane.Decision, dane.Inputs, *mtasts.Policy) {
	var in dane.Inputs
	for _, n := range cfg.TLSPolicyMap.Nexthop {
		if strings.EqualFold(n.Nexthop, key) {
			in.Nexthop = n.Policy
			return dane.Decide(in), in, nil
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
			return dane.Decide(in), in, nil
		}
	}
	// DANE and MTA-STS are about MX delivery: a bracketed next hop (no MX
	// lookup) is outside them here (RFC 8461 section 4 matches MX host
	// names; DANE for a bracketed host is left to Postfix's own level).
	// After a NOTFOUND for "a.example.org" Postfix asks again for
	// ".example.org" (its parent-domain match): a table key, not a name
	// to look up (the e2e test saw DANE lookups of ".test" fail as errors).
	if bracketed || strings.HasPrefix(domain, ".") {
		return dane.Decide(in), in, nil
	}
	if o.dane != nil {
		// Within the socketmap's 10 s, leaving MTA-STS time to answer: a
		// DANE lookup cut short is an error (TEMP or NOTFOUND), not TIMEOUT.
		dctx, cancel := context.WithTimeout(ctx, daneBudget)
		r := o.dane.Lookup(dctx, domain)
		cancel()
		in.DANE = &r
		if r.Usable() && !all {
			return dane.Decide(in), in, nil
		}
		if r.Err != nil {
			o.log.Warn("dane lookup failed", "domain", domain, "error", r.Err)
		}
	}
	// A require_tls domain whose DNSSEC failed is TEMP whatever MTA-STS says.
	var sts *mtasts.Policy
	if o.mtasts != nil && (all || !(in.RequireTLS && in.DANE != nil && in.DANE.Err != nil)) {
		p, err := o.mtasts.Lookup(ctx, domain)
		if err != nil {
			o.log.Warn("mta-sts lookup failed; delivering without it", "domain", domain, "error", err)
		} else if p != nil {
			in.MTASTS, in.MTASTSID = p.PostfixPolicy(), p.ID
			sts = p
		}
	}
	return dane.Decide(in), in, sts
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
	d, in, _ := o.decide(ctx, cfg, pol, key, true)
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
