// Package danetest runs a real DNSSEC chain on loopback for tests: an
// in-process authoritative server for test zones signed with miekg/dns,
// and Debian's unbound as the validating resolver in front of it, with
// the signed zones' keys as its trust anchors.
package danetest

import (
	"crypto"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Zone is a test zone. A signed zone gets a key (its DNSKEY is unbound's
// trust anchor), RRSIGs on every RRset and an NSEC chain, so that
// unbound can prove records and their absence; an unsigned zone is
// outside every trust anchor, hence insecure.
type Zone struct {
	Origin string   // "secure.test."
	Signed bool     // sign it and make it a trust anchor
	RRs    []string // zone-file lines (SOA, NS and DNSKEY are added)
	// Bogus lists owner names whose RRSIGs are broken: unbound answers
	// SERVFAIL for them.
	Bogus []string
	// Raw are records added as they are, signed like the others: for
	// hostile tests, e.g. a *dns.RFC3597 of type TLSA whose rdata does not
	// parse, which a zone-file line cannot express.
	Raw []dns.RR

	key    *dns.DNSKEY
	signer crypto.Signer
	rrsets map[string]map[uint16][]dns.RR // owner → type → RRset (RRSIGs included under TypeRRSIG per covered type in sigs)
	sigs   map[string]map[uint16]*dns.RRSIG
	names  []string // canonical order, for NSEC
}

func (z *Zone) prepare(t testing.TB) {
	t.Helper()
	z.Origin = dns.Fqdn(strings.ToLower(z.Origin))
	lines := append([]string{
		z.Origin + " 300 IN SOA ns." + z.Origin + " admin." + z.Origin + " 1 3600 600 86400 300",
		z.Origin + " 300 IN NS ns." + z.Origin,
		"ns." + z.Origin + " 300 IN A 127.0.0.1",
	}, z.RRs...)
	z.rrsets = map[string]map[uint16][]dns.RR{}
	add := func(rr dns.RR) {
		h := rr.Header()
		h.Name = strings.ToLower(h.Name)
		if z.rrsets[h.Name] == nil {
			z.rrsets[h.Name] = map[uint16][]dns.RR{}
		}
		z.rrsets[h.Name][h.Rrtype] = append(z.rrsets[h.Name][h.Rrtype], rr)
	}
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("danetest: %q: %v", l, err)
		}
		add(rr)
	}
	for _, rr := range z.Raw {
		add(dns.Copy(rr))
	}
	if !z.Signed {
		return
	}
	z.key = &dns.DNSKEY{Hdr: dns.RR_Header{Name: z.Origin, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 300},
		Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	priv, err := z.key.Generate(256)
	if err != nil {
		t.Fatalf("danetest: key: %v", err)
	}
	z.signer = priv.(crypto.Signer)
	add(z.key)
	for name := range z.rrsets {
		z.names = append(z.names, name)
	}
	slices.SortFunc(z.names, canonicalCompare)
	for i, name := range z.names {
		types := []uint16{dns.TypeRRSIG, dns.TypeNSEC}
		for ty := range z.rrsets[name] {
			types = append(types, ty)
		}
		slices.Sort(types)
		next := z.names[(i+1)%len(z.names)]
		add(&dns.NSEC{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: 300},
			NextDomain: next, TypeBitMap: types})
	}
	z.sigs = map[string]map[uint16]*dns.RRSIG{}
	for name, byType := range z.rrsets {
		z.sigs[name] = map[uint16]*dns.RRSIG{}
		for ty, set := range byType {
			z.sigs[name][ty] = z.sign(t, set, slices.Contains(z.Bogus, name))
		}
	}
}

func (z *Zone) sign(t testing.TB, set []dns.RR, broken bool) *dns.RRSIG {
	now := time.Now()
	sig := &dns.RRSIG{Hdr: dns.RR_Header{Ttl: 300}, KeyTag: z.key.KeyTag(), SignerName: z.Origin,
		Algorithm: z.key.Algorithm, Inception: uint32(now.Add(-time.Hour).Unix()), Expiration: uint32(now.Add(24 * time.Hour).Unix())}
	if err := sig.Sign(z.signer, set); err != nil {
		t.Fatalf("danetest: sign %s: %v", set[0].Header().Name, err)
	}
	if broken {
		// Same length, wrong bytes: unbound fails validation (bogus).
		sig.Signature = strings.Repeat("A", len(sig.Signature)-4) + sig.Signature[len(sig.Signature)-4:]
	}
	return sig
}

// canonicalCompare is RFC 4034 6.1's order: labels compared right to left.
func canonicalCompare(a, b string) int {
	la, lb := dns.SplitDomainName(a), dns.SplitDomainName(b)
	for i, j := len(la)-1, len(lb)-1; i >= 0 || j >= 0; i, j = i-1, j-1 {
		switch {
		case i < 0:
			return -1
		case j < 0:
			return 1
		}
		if c := strings.Compare(strings.ToLower(la[i]), strings.ToLower(lb[j])); c != 0 {
			return c
		}
	}
	return 0
}

// Anchor is the zone's trust anchor for unbound ("" for an unsigned zone).
func (z *Zone) Anchor() string {
	if z.key == nil {
		return ""
	}
	return z.key.String()
}

// serve answers one query for the zone: records with their RRSIGs (when
// DO is set), or NODATA/NXDOMAIN with the SOA and NSEC proofs.
func (z *Zone) serve(q dns.Question, do bool, m *dns.Msg) {
	name := strings.ToLower(q.Name)
	withSig := func(sec *[]dns.RR, owner string, ty uint16) {
		*sec = append(*sec, z.rrsets[owner][ty]...)
		if do && z.sigs != nil {
			*sec = append(*sec, z.sigs[owner][ty])
		}
	}
	byType, exists := z.rrsets[name]
	if exists && len(byType[q.Qtype]) > 0 {
		withSig(&m.Answer, name, q.Qtype)
		return
	}
	withSig(&m.Ns, z.Origin, dns.TypeSOA)
	if !exists {
		m.Rcode = dns.RcodeNameError
	}
	if !do || z.sigs == nil {
		return
	}
	if exists {
		withSig(&m.Ns, name, dns.TypeNSEC)
		return
	}
	// NXDOMAIN: the NSEC covering the name, and the one covering the
	// wildcard at the apex (no wildcard exists).
	for _, n := range []string{name, "*." + z.Origin} {
		prev := z.names[len(z.names)-1]
		for _, cand := range z.names {
			if canonicalCompare(cand, n) < 0 {
				prev = cand
			}
		}
		if !slices.ContainsFunc(m.Ns, func(rr dns.RR) bool { return rr.Header().Name == prev && rr.Header().Rrtype == dns.TypeNSEC }) {
			withSig(&m.Ns, prev, dns.TypeNSEC)
		}
	}
}

// Auth is the authoritative server.
type Auth struct {
	Addr  string // 127.0.0.1:PORT, UDP and TCP
	zones []*Zone
}

// StartAuth signs the zones and serves them on loopback until the test ends.
func StartAuth(t testing.TB, zones ...*Zone) *Auth {
	t.Helper()
	a := &Auth{zones: zones}
	for _, z := range zones {
		z.prepare(t)
	}
	pc, ln := listenBoth(t)
	a.Addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(a.handle)
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return a
}

func (a *Auth) handle(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	do := false
	if opt := r.IsEdns0(); opt != nil {
		do = opt.Do()
	}
	if len(r.Question) == 1 {
		q := r.Question[0]
		if z := a.zoneFor(q.Name); z != nil {
			z.serve(q, do, m)
		} else {
			m.Rcode = dns.RcodeRefused
		}
	}
	if r.IsEdns0() != nil {
		m.SetEdns0(4096, do)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		m.Truncate(1232)
	}
	_ = w.WriteMsg(m)
}

func (a *Auth) zoneFor(name string) *Zone {
	var best *Zone
	for _, z := range a.zones {
		if dns.IsSubDomain(z.Origin, strings.ToLower(name)) && (best == nil || len(z.Origin) > len(best.Origin)) {
			best = z
		}
	}
	return best
}

// listenBoth opens UDP and TCP on the same loopback port.
func listenBoth(t testing.TB) (net.PacketConn, net.Listener) {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("danetest: listen udp: %v", err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln
		}
		pc.Close()
	}
	t.Fatal("danetest: no port free on both UDP and TCP")
	return nil, nil
}
