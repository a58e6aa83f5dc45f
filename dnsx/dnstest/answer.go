package dnstest

import (
	"github.com/miekg/dns"
)

// maxChain bounds CNAME chasing, so a loop in the zone ends in SERVFAIL.
const maxChain = 8

// reply is what the zone says to one question.
type reply struct {
	act    action
	rcode  int
	answer []dns.RR
	ns     []dns.RR
}

// lookup applies the answering rules of the package doc to (name, qtype).
// name must be canonical. The RRs are copies: the server may change them
// (truncation, packing) while another query reads the zone.
func (z *Zone) lookup(name string, qtype uint16) reply {
	z.mu.RLock()
	defer z.mu.RUnlock()
	var rep reply
	for range maxChain {
		n := z.nodes[name]
		if rrs := n.records(qtype); len(rrs) > 0 {
			rep.answer = appendCopies(rep.answer, rrs)
			return rep
		}
		if c := n.cname(); c != nil && qtype != dns.TypeCNAME {
			rep.answer = append(rep.answer, dns.Copy(c))
			name = canonicalName(c.Target)
			continue
		}
		if a := z.rule(name, qtype); a != actAnswer {
			return reply{act: a}
		}
		if n == nil {
			w, matched := z.wildcard(name, qtype)
			if len(w) > 0 {
				rep.answer = append(rep.answer, w...)
				return rep
			}
			if !matched {
				rep.rcode = dns.RcodeNameError
			}
		}
		rep.ns = []dns.RR{z.soa(name)}
		return rep
	}
	return reply{act: actServFail}
}

func (n *node) records(qtype uint16) []dns.RR {
	if n == nil {
		return nil
	}
	return n.rrs[qtype]
}

func (n *node) cname() *dns.CNAME {
	for _, rr := range n.records(dns.TypeCNAME) {
		if c, ok := rr.(*dns.CNAME); ok {
			return c
		}
	}
	return nil
}

// rule returns the rule for (name, qtype), the exact type first.
func (z *Zone) rule(name string, qtype uint16) action {
	if a, ok := z.rules[ruleKey{name, qtype}]; ok {
		return a
	}
	return z.rules[ruleKey{name, dns.TypeANY}]
}

// soa returns the closest enclosing SOA of the zone's data, else one
// synthesized at the root with the negative TTL as TTL and MINIMUM, so that
// resolvers can cache the negative answer (RFC 2308).
func (z *Zone) soa(name string) dns.RR {
	for p, ok := name, true; ok; p, ok = parent(p) {
		if rrs := z.nodes[p].records(dns.TypeSOA); len(rrs) > 0 {
			return dns.Copy(rrs[0])
		}
	}
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: ".", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: z.negTTL},
		Ns:      "ns.test.",
		Mbox:    "hostmaster.test.",
		Serial:  1,
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  z.negTTL,
	}
}

func appendCopies(dst, rrs []dns.RR) []dns.RR {
	for _, rr := range rrs {
		dst = append(dst, dns.Copy(rr))
	}
	return dst
}

// wildcard returns the records of qtype that a wildcard synthesizes for
// name, a name the zone does not have (RFC 4592, without CNAME wildcards):
// those of "*." under name's closest encloser, the nearest ancestor that
// exists, copied with name as their owner. matched says a wildcard covers
// name, so that it exists (NODATA when the wildcard lacks the type).
func (z *Zone) wildcard(name string, qtype uint16) (rrs []dns.RR, matched bool) {
	for p, ok := parent(name); ok; p, ok = parent(p) {
		if z.nodes[p] == nil {
			continue
		}
		star := "*." + p
		if p == "." {
			star = "*."
		}
		w := z.nodes[star]
		for _, rr := range w.records(qtype) {
			c := dns.Copy(rr)
			c.Header().Name = name
			rrs = append(rrs, c)
		}
		return rrs, w != nil
	}
	return nil, false
}
