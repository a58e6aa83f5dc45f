package dnstest

import (
	"time"

	"github.com/miekg/dns"
)

// serverUDPSize is the EDNS0 payload size the server advertises.
const serverUDPSize = 1232

func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	s.queries.Add(1)
	s.enter()
	resp := s.answer(w, req)
	// Leave before writing: once the client has the answer it may send its
	// next query, which must not find this one still counted.
	s.inFlight.Add(-1)
	if resp != nil {
		// A write error means the client went away; there is nobody to tell.
		_ = w.WriteMsg(resp)
	}
}

// enter counts a query in flight and raises the high-water mark.
func (s *Server) enter() {
	n := s.inFlight.Add(1)
	for {
		hw := s.maxInFlight.Load()
		if n <= hw || s.maxInFlight.CompareAndSwap(hw, n) {
			return
		}
	}
}

// answer waits the delay and builds the reply; nil for none (dropped, a
// Timeout rule, the server stopping).
func (s *Server) answer(w dns.ResponseWriter, req *dns.Msg) *dns.Msg {
	if s.drop() || !s.wait() {
		return nil
	}
	resp := s.respond(req)
	if resp != nil && isUDP(w) {
		s.fitUDP(req, resp)
	}
	return resp
}

// drop draws from the seeded source whether to ignore this query.
func (s *Server) drop() bool {
	s.dropMu.Lock()
	defer s.dropMu.Unlock()
	return s.dropRate > 0 && s.rng.Float64() < s.dropRate
}

// wait sleeps the configured delay; false if the server stops meanwhile,
// so that cleanup never waits for a long delay.
func (s *Server) wait() bool {
	d := time.Duration(s.delay.Load())
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-s.stop:
		return false
	}
}

// respond builds the answer to req from the zone, or nil for no answer.
// miekg's default accept function has already refused messages that are
// not queries or do not have exactly one question.
func (s *Server) respond(req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.RecursionAvailable = true
	if req.IsEdns0() != nil {
		resp.SetEdns0(serverUDPSize, false)
	}
	q := req.Question[0]
	if q.Qclass != dns.ClassINET {
		resp.Rcode = dns.RcodeRefused
		return resp
	}
	rep := s.zone.lookup(lowerASCII(q.Name), q.Qtype)
	switch rep.act {
	case actTimeout:
		return nil
	case actServFail:
		resp.Rcode = dns.RcodeServerFailure
		return resp
	}
	resp.Authoritative = true
	resp.Rcode = rep.rcode
	resp.Answer = rep.answer
	resp.Ns = rep.ns
	return resp
}

// fitUDP applies the UDP size limit: 512 bytes without EDNS0, else the
// client's advertised size (RFC 6891). With SetTruncateUDP every answer is
// emptied and marked truncated.
func (s *Server) fitUDP(req, resp *dns.Msg) {
	if s.truncUDP.Load() {
		resp.Answer, resp.Ns = nil, nil
		resp.Extra = keepOPT(resp.Extra)
		resp.Truncated = true
		return
	}
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = int(opt.UDPSize())
	}
	resp.Truncate(size)
}

func keepOPT(extra []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			out = append(out, rr)
		}
	}
	return out
}

func isUDP(w dns.ResponseWriter) bool {
	return w.LocalAddr().Network() == "udp"
}
