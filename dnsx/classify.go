package dnsx

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// classify turns the result of one exchange with server into an answer.
func (r *Resolver) classify(q, resp *dns.Msg, err error, server string) *answer {
	if err != nil {
		return exchangeFailure(err, server)
	}
	if problem := checkReply(q, resp); problem != "" {
		return failure(server, "malformed answer: "+problem, false)
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
		return r.records(resp, q.Question[0].Qtype, server)
	case dns.RcodeNameError:
		return r.negative(resp, nxdomain, server)
	default:
		return failure(server, "server misbehaving: "+dns.RcodeToString[resp.Rcode], false)
	}
}

// exchangeFailure describes an error of the transport or of decoding.
func exchangeFailure(err error, server string) *answer {
	var ne net.Error
	var de *dns.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return failure(server, errTimeout, true)
	case errors.Is(err, context.Canceled):
		return failure(server, errCanceled, false)
	case errors.As(err, &de):
		// miekg's own errors are about the bytes: unpacking, ID mismatch.
		return failure(server, "malformed answer: "+err.Error(), false)
	default:
		return failure(server, err.Error(), false)
	}
}

// checkReply makes sure resp answers q, so that a stray or forged packet
// is not taken for the answer; "" if it does.
func checkReply(q, resp *dns.Msg) string {
	switch {
	case !resp.Response:
		return "not a response"
	case resp.Opcode != q.Opcode:
		return "opcode " + dns.OpcodeToString[resp.Opcode]
	case len(resp.Question) != 1:
		return "answer has no single question"
	}
	want, got := q.Question[0], resp.Question[0]
	if got.Qtype != want.Qtype || got.Qclass != want.Qclass || !strings.EqualFold(got.Name, want.Name) {
		return "question mismatch: asked " + question(want) + ", answered " + question(got)
	}
	return ""
}

func question(q dns.Question) string {
	return q.Name + " " + dns.TypeToString[q.Qtype]
}

// records collects the records of qtype in the answer section. Their owner
// is not checked: the recursive server has followed any CNAME chain, and
// what it answers for the chain is what we asked. Records that are not of
// qtype (the CNAMEs of the chain) still bound the TTL: the answer is only
// valid while the whole chain is.
func (r *Resolver) records(resp *dns.Msg, qtype uint16, server string) *answer {
	a := &answer{outcome: found, server: server}
	minTTL := uint32(0)
	for i, rr := range resp.Answer {
		h := rr.Header()
		if i == 0 || h.Ttl < minTTL {
			minTTL = h.Ttl
		}
		if h.Rrtype == qtype && h.Class == dns.ClassINET {
			a.add(rr)
		}
	}
	if len(a.strs)+len(a.mx)+len(a.addrs) == 0 {
		return r.negative(resp, nodata, server)
	}
	slices.SortStableFunc(a.mx, func(x, y net.MX) int { return cmp.Compare(x.Pref, y.Pref) })
	a.ttl = r.capTTL(minTTL)
	return a
}

// add decodes one record of the type asked into a.
func (a *answer) add(rr dns.RR) {
	switch rr := rr.(type) {
	case *dns.TXT:
		a.strs = append(a.strs, joinTXT(rr))
	case *dns.PTR:
		a.strs = append(a.strs, rr.Ptr)
	case *dns.MX:
		a.mx = append(a.mx, net.MX{Host: rr.Mx, Pref: rr.Preference})
	case *dns.A:
		if ip, ok := netip.AddrFromSlice(rr.A); ok {
			a.addrs = append(a.addrs, ip.Unmap())
		}
	case *dns.AAAA:
		if ip, ok := netip.AddrFromSlice(rr.AAAA); ok {
			a.addrs = append(a.addrs, ip)
		}
	}
}

// negative builds an NXDOMAIN or NODATA answer. RFC 2308: it may be cached
// for the smaller of the SOA's TTL and its MINIMUM field; without a SOA in
// the authority section it must not be cached.
func (r *Resolver) negative(resp *dns.Msg, o outcome, server string) *answer {
	a := &answer{outcome: o, server: server}
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			a.ttl = r.capTTL(min(soa.Hdr.Ttl, soa.Minttl))
			break
		}
	}
	return a
}

// capTTL converts a TTL in seconds and caps it at MaxTTL.
func (r *Resolver) capTTL(ttl uint32) time.Duration {
	return min(time.Duration(ttl)*time.Second, r.maxTTL)
}
