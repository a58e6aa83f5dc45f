package dane_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"spamgate/dane"
	"spamgate/dane/danetest"

	"github.com/miekg/dns"
)

// hostileZone is signed (a trust anchor of unbound), so that what it
// publishes reaches dane.Resolver as a secure answer: malformed TLSA rdata
// (unbound does not parse TLSA rdata, it passes it on with AD), TLSA RRsets
// of 40 KB (over TCP) and of 80 KB (more than a DNS message holds), and an
// MX RRset whose signature is broken.
func hostileZone() *danetest.Zone {
	cert := strings.Repeat("ab", 2000) // a 2000-byte "certificate" (TLSA 3 0 0: full certificate)
	z := &danetest.Zone{Origin: "hostile.test.", Signed: true, Bogus: []string{"bogusmx.hostile.test."}}
	for _, d := range []string{"malformed", "mixed", "big", "huge", "bogusmx"} {
		z.RRs = append(z.RRs, d+".hostile.test. 300 IN MX 10 mx."+d+".hostile.test.",
			"mx."+d+".hostile.test. 300 IN A 127.0.0.1")
	}
	// Three bytes are the least TLSA rdata (usage, selector, matching type).
	short := func(owner string) dns.RR {
		return &dns.RFC3597{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeTLSA, Class: dns.ClassINET, Ttl: 300}, Rdata: "0301"}
	}
	z.Raw = append(z.Raw, short("_25._tcp.mx.malformed.hostile.test."), short("_25._tcp.mx.mixed.hostile.test."))
	z.RRs = append(z.RRs, "_25._tcp.mx.mixed.hostile.test. 300 IN TLSA 3 1 1 "+tlsaHash)
	for i := range 40 {
		rr := "_25._tcp.mx.%s.hostile.test. 300 IN TLSA 3 0 0 " + cert[:len(cert)-4] + string(rune('a'+i%6)) + string(rune('0'+i/6)) + "00"
		if i < 20 {
			z.RRs = append(z.RRs, strings.Replace(rr, "%s", "big", 1))
		}
		z.RRs = append(z.RRs, strings.Replace(rr, "%s", "huge", 1))
	}
	return z
}

// TestHostileTLSAThroughUnbound: what a hostile (or broken) signed domain
// can publish never becomes "no DANE" nor an unbounded amount of work.
func TestHostileTLSAThroughUnbound(t *testing.T) {
	auth := danetest.StartAuth(t, hostileZone())
	ub := danetest.StartUnbound(t, auth)
	defer func() {
		if t.Failed() {
			t.Logf("unbound log:\n%s", ub.Log())
		}
	}()
	r := dane.NewResolver([]string{ub.Addr}, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct {
		domain   string
		usable   bool
		err      string // substring of Result.Err; "" = none
		tlsa     int    // usable TLSA records of the MX host
		unusable int
	}{
		// Truncated rdata ("03 01"): miekg/dns reads it as "3 1 0" with no
		// data; it is unusable (RFC 7671 5.1), so the host has no usable
		// record (no DANE: require_tls gives "encrypt", as Postfix, seeing
		// no usable record, would do), and a well-formed record beside it
		// still counts.
		{domain: "malformed.hostile.test", unusable: 1},
		{domain: "mixed.hostile.test", usable: true, tlsa: 1, unusable: 1},
		// 20 records of 2 KB: truncated over UDP, read over TCP, all kept.
		{domain: "big.hostile.test", usable: true, tlsa: 20},
		// 40 records of 2 KB do not fit in a DNS message (64 KB): no answer
		// comes, an error, not "no DANE".
		{domain: "huge.hostile.test", err: "tlsa lookup"},
		// A broken MX signature: bogus, an error.
		{domain: "bogusmx.hostile.test", err: "mx lookup"},
	} {
		t.Run(tc.domain, func(t *testing.T) {
			res := r.Lookup(ctx, tc.domain)
			if res.Usable() != tc.usable || (tc.err == "") != (res.Err == nil) ||
				res.Err != nil && !strings.Contains(res.Err.Error(), tc.err) {
				t.Fatalf("usable %v err %v (%+v), want usable %v err %q", res.Usable(), res.Err, res, tc.usable, tc.err)
			}
			if tc.err == "" && (len(res.Hosts[0].TLSA) != tc.tlsa || res.Hosts[0].Unusable != tc.unusable) {
				t.Errorf("%d TLSA records, %d unusable; want %d, %d", len(res.Hosts[0].TLSA), res.Hosts[0].Unusable, tc.tlsa, tc.unusable)
			}
			t.Logf("%s: usable %v, err %v", tc.domain, res.Usable(), res.Err)
		})
	}
}

// TestHostileTrustedResolver: replies that a validating resolver should
// never send, with the AD bit set, from the very server dane.Resolver
// trusts. None of them is secure.
func TestHostileTrustedResolver(t *testing.T) {
	tlsa, _ := dns.NewRR("_25._tcp.mx.example. 300 IN TLSA 3 1 1 " + tlsaHash)
	for _, tc := range []struct {
		name   string
		reply  func(q, m *dns.Msg) // edits m, the reply to q
		status dane.Status
	}{
		{"AD on SERVFAIL", func(q, m *dns.Msg) { m.Rcode = dns.RcodeServerFailure }, dane.Bogus},
		{"AD on REFUSED", func(q, m *dns.Msg) { m.Rcode = dns.RcodeRefused }, dane.Failed},
		{"answer to another question", func(q, m *dns.Msg) { m.Question[0].Name = "_25._tcp.other.example." }, dane.Failed},
		{"another type asked back", func(q, m *dns.Msg) { m.Question[0].Qtype = dns.TypeA }, dane.Failed},
		{"not a response", func(q, m *dns.Msg) { m.Response = false }, dane.Failed},
		{"truncated over UDP and TCP", func(q, m *dns.Msg) { m.Truncated = true; m.Answer = nil }, dane.Failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startHostileResolver(t, func(q *dns.Msg) *dns.Msg {
				m := new(dns.Msg)
				m.SetReply(q)
				m.AuthenticatedData = true
				m.Answer = []dns.RR{tlsa}
				tc.reply(q, m)
				return m
			})
			r := dane.NewResolver([]string{addr}, 500*time.Millisecond)
			a := r.Query(context.Background(), "_25._tcp.mx.example", dns.TypeTLSA)
			if a.Status != tc.status || a.Err == nil {
				t.Errorf("status %v (err %v), want %v with an error", a.Status, a.Err, tc.status)
			}
		})
	}
	t.Run("a well-formed reply is secure (the server works)", func(t *testing.T) {
		addr := startHostileResolver(t, func(q *dns.Msg) *dns.Msg {
			m := new(dns.Msg)
			m.SetReply(q)
			m.AuthenticatedData = true
			m.Answer = []dns.RR{tlsa}
			return m
		})
		a := dane.NewResolver([]string{addr}, 500*time.Millisecond).Query(context.Background(), "_25._tcp.mx.example", dns.TypeTLSA)
		if a.Status != dane.Secure || len(a.Records) != 1 {
			t.Errorf("status %v, %d records, err %v", a.Status, len(a.Records), a.Err)
		}
	})
}

// startHostileResolver answers every query, over UDP and TCP on one
// loopback port, with what reply makes of it.
func startHostileResolver(t *testing.T, reply func(*dns.Msg) *dns.Msg) string {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	for range 20 { // a port free on both UDP and TCP
		p, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if l, err := net.Listen("tcp", p.LocalAddr().String()); err == nil {
			pc, ln = p, l
			break
		}
		p.Close()
	}
	if pc == nil {
		t.Fatal("no port free on both UDP and TCP")
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) { _ = w.WriteMsg(reply(q)) })
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return pc.LocalAddr().String()
}
