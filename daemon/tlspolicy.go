package daemon

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"spamgate/config"
	"spamgate/milter"
	"spamgate/mtasts"
	"spamgate/socketmap"
)

// tlsPolicyMap is the socketmap service behind Postfix's
// smtp_tls_policy_maps: the outbound half of the encrypted-delivery policy.
type tlsPolicyMap struct {
	d      *Daemon
	srv    *socketmap.Server
	ln     net.Listener
	mtasts *mtasts.Client // nil unless [tls_policy_map] mta_sts
	served chan error
}

func (d *Daemon) startTLSPolicyMap(cfg *config.Config) error {
	m := cfg.TLSPolicyMap
	if !m.Enabled {
		return nil
	}
	t := &tlsPolicyMap{d: d, served: make(chan error, 1)}
	if m.MTASTS {
		c, err := d.newMTASTS(m)
		if err != nil {
			return err
		}
		t.mtasts = c
		go c.Run(d.ctx, 0) // refreshes cached policies before they expire
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
	}
	go func() { t.served <- t.srv.Serve(ln) }()
	d.mu.Lock() // /metrics may already be reading it (storeStats)
	d.tlsMap = t
	d.mu.Unlock()
	d.log.Info("tls policy map started", "listen", m.Listen, "addr", ln.Addr().String(), "map", m.MapName, "mta_sts", m.MTASTS)
	return nil
}

func (d *Daemon) newMTASTS(m config.TLSPolicyMap) (*mtasts.Client, error) {
	// The fetch must end before the socketmap request deadline (10s), so
	// that Postfix gets an answer, not TIMEOUT, on a first slow fetch.
	o := mtasts.Options{Resolver: d.resolver, Log: d.log.With("service", "mta-sts"), Timeout: 8 * time.Second,
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
// ("[mx.example.net]:587"). The answer comes, in this order, from a
// [[tls_policy_map.nexthop]] entry, from the policy rule for the domain (its
// outbound_tls, or "encrypt" when it requires TLS inbound), and from the
// domain's MTA-STS policy. Nothing found: NOTFOUND, Postfix's own default.
func (t *tlsPolicyMap) answer(ctx context.Context, mapName, key string) socketmap.Reply {
	cfg := t.d.Config()
	if mapName != cfg.TLSPolicyMap.MapName {
		return socketmap.Reply{Status: "PERM", Value: "unknown map " + mapName}
	}
	key = strings.ToLower(strings.TrimSpace(key))
	for _, n := range cfg.TLSPolicyMap.Nexthop {
		if strings.EqualFold(n.Nexthop, key) {
			return t.found(key, n.Policy, "nexthop "+n.Nexthop)
		}
	}
	domain, bracketed := nexthopDomain(key)
	if rule := t.d.Engine().Policy().LookupDomain(domain); rule != nil {
		if p := rule.OutboundPolicy(); p != "" {
			return t.found(key, p, rule.Source)
		}
	}
	// MTA-STS is about MX delivery: a bracketed next hop (no MX lookup) is
	// outside it (RFC 8461 section 4 matches MX host names).
	if t.mtasts != nil && !bracketed {
		p, err := t.mtasts.Lookup(ctx, domain)
		if err != nil {
			t.d.log.Warn("mta-sts lookup failed; delivering without it", "domain", domain, "error", err)
		} else if p != nil {
			if s := p.PostfixPolicy(); s != "" {
				return t.found(key, s, "MTA-STS id "+p.ID)
			}
		}
	}
	return socketmap.Reply{Status: "NOTFOUND"}
}

func (t *tlsPolicyMap) found(key, policy, source string) socketmap.Reply {
	t.d.log.Debug("tls policy", "nexthop", key, "policy", policy, "source", source)
	return socketmap.Reply{Status: "OK", Value: policy}
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
