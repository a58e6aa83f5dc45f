package engine

import (
	"context"
	"net/netip"
	"strings"

	"spamgate/authres"
	"spamgate/dnsx"
	"spamgate/iprev"
)

// startIPRev starts the reverse DNS check at connect, beside the DNSBL
// lookups: greylisting and the score read it at RCPT and end of message.
func (s *Session) startIPRev(addr netip.Addr) {
	if !s.e.cfg.IPRev.Enabled {
		return
	}
	words := s.e.cfg.IPRev.DynamicWords
	s.iprev = lookup(s, s.ctx, "iprev", func(ctx context.Context) iprev.Result {
		return iprev.Check(ctx, s.e.resolver, addr, words)
	})
}

// iprevResult waits for the reverse DNS check; nil when it did not run.
func (s *Session) iprevResult() *iprev.Result {
	if s.iprev == nil {
		return nil
	}
	if s.iprevRes == nil {
		if r, ok := s.iprev.wait(s.ctx); ok {
			s.iprevRes = &r
		}
	}
	return s.iprevRes
}

// iprevEntry is the Authentication-Results entry (RFC 8601 section 3).
func iprevEntry(r *iprev.Result, addr netip.Addr) authres.Entry {
	e := authres.Entry{Method: "iprev", Result: string(r.Status),
		Props: []authres.Prop{{Type: "policy", Name: "iprev", Value: addr.String()}}}
	if r.Name != "" {
		e.Comment = r.Name
	}
	return e
}

// heloFacts is what the score reads of the HELO name.
type heloFacts struct {
	IPLiteral  bool `json:"ip_literal,omitempty"`
	Unresolved bool `json:"unresolvable,omitempty"` // no address record (NXDOMAIN or no data)
}

// startHelo checks the HELO name as soon as it is known; only the score
// reads it.
func (s *Session) startHelo(name string) {
	s.heloCheck = nil
	if !s.e.cfg.Score.Enabled || s.outboundClient() {
		return
	}
	if strings.HasPrefix(name, "[") || netipIsAddr(name) {
		s.heloCheck = done(heloFacts{IPLiteral: true})
		return
	}
	s.heloCheck = lookup(s, s.ctx, "helo", func(ctx context.Context) heloFacts {
		_, err := s.e.resolver.LookupIP(ctx, "ip", name)
		return heloFacts{Unresolved: err != nil && dnsx.IsNotFound(err)}
	})
}

func netipIsAddr(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}
