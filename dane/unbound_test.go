package dane_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"spamgate/dane"
	"spamgate/dane/danetest"

	"github.com/miekg/dns"
)

const tlsaHash = "8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d"

// testZones: secure.test is signed (unbound's trust anchor) with DANE on
// one domain, a domain whose MX has no TLSA, a domain with only PKIX
// usages, one with a broken TLSA signature and one with 40 TLSA records
// (over UDP's 1232 bytes: truncated, asked again over TCP), one whose MX
// host's address is bogus and one whose MX host is in the unsigned zone;
// plain.test is unsigned (insecure).
func testZones() []*danetest.Zone {
	var many []string
	for i := range 40 {
		many = append(many, "_25._tcp.mx.many.secure.test. 300 IN TLSA 3 1 1 "+tlsaHash[:60]+string(rune('a'+i%6))+string(rune('0'+i/6))+"00")
	}
	return []*danetest.Zone{{
		Origin: "secure.test.", Signed: true,
		RRs: append([]string{
			"dane.secure.test. 300 IN MX 10 mx1.dane.secure.test.",
			"dane.secure.test. 300 IN MX 20 mx2.dane.secure.test.",
			"_25._tcp.mx1.dane.secure.test. 300 IN TLSA 3 1 1 " + tlsaHash,
			"_25._tcp.mx2.dane.secure.test. 300 IN TLSA 2 0 1 " + tlsaHash,
			"notlsa.secure.test. 300 IN MX 10 mx.notlsa.secure.test.",
			"mx.notlsa.secure.test. 300 IN A 127.0.0.1",
			"pkix.secure.test. 300 IN MX 10 mx.pkix.secure.test.",
			"_25._tcp.mx.pkix.secure.test. 300 IN TLSA 1 1 1 " + tlsaHash,
			"bogus.secure.test. 300 IN MX 10 mx.bogus.secure.test.",
			"_25._tcp.mx.bogus.secure.test. 300 IN TLSA 3 1 1 " + tlsaHash,
			"nomx.secure.test. 300 IN A 127.0.0.1",
			"_25._tcp.nomx.secure.test. 300 IN TLSA 3 1 1 " + tlsaHash,
			"many.secure.test. 300 IN MX 10 mx.many.secure.test.",
			"mx1.dane.secure.test. 300 IN A 127.0.0.1",
			"mx2.dane.secure.test. 300 IN AAAA ::1",
			"mx.pkix.secure.test. 300 IN A 127.0.0.1",
			"mx.bogus.secure.test. 300 IN A 127.0.0.1",
			"mx.many.secure.test. 300 IN A 127.0.0.1",
			"mixed.secure.test. 300 IN MX 10 mx.plain.test.",
			"badaddr.secure.test. 300 IN MX 10 mx.badaddr.secure.test.",
			"mx.badaddr.secure.test. 300 IN A 127.0.0.1",
			"_25._tcp.mx.badaddr.secure.test. 300 IN TLSA 3 1 1 " + tlsaHash,
		}, many...),
		Bogus: []string{"_25._tcp.mx.bogus.secure.test.", "mx.badaddr.secure.test."},
	}, {
		Origin: "plain.test.",
		RRs: []string{
			"plain.test. 300 IN MX 10 mx.plain.test.",
			"mx.plain.test. 300 IN A 127.0.0.1",
			"_25._tcp.mx.plain.test. 300 IN TLSA 3 1 1 " + tlsaHash,
		},
	}}
}

// TestLookupThroughUnbound runs the real chain: a signed zone, unbound
// validating it with its trust anchor, dane.Resolver believing unbound's
// AD bit. It also asks the authoritative server directly, a resolver that
// never sets AD: nothing it says counts as DANE.
func TestLookupThroughUnbound(t *testing.T) {
	auth := danetest.StartAuth(t, testZones()...)
	ub := danetest.StartUnbound(t, auth)
	r := dane.NewResolver([]string{ub.Addr}, 2*time.Second)
	defer func() {
		if t.Failed() {
			t.Logf("unbound log:\n%s", ub.Log())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for _, tc := range []struct {
		domain   string
		mx       dane.Status
		usable   bool
		err      string // substring of Result.Err; "" = none
		hosts    int
		tlsa     int // usable TLSA records of the first host
		dropped  int
		unusable int
	}{
		{domain: "dane.secure.test", mx: dane.Secure, usable: true, hosts: 2, tlsa: 1},
		{domain: "notlsa.secure.test", mx: dane.Secure, hosts: 1},
		{domain: "pkix.secure.test", mx: dane.Secure, hosts: 1, unusable: 1},
		{domain: "bogus.secure.test", mx: dane.Secure, hosts: 1, err: "SERVFAIL"},
		{domain: "nomx.secure.test", mx: dane.Secure, usable: true, hosts: 1, tlsa: 1},
		{domain: "many.secure.test", mx: dane.Secure, usable: true, hosts: 1, tlsa: dane.MaxTLSAPerHost, dropped: 40 - dane.MaxTLSAPerHost},
		{domain: "plain.test", mx: dane.Insecure},
		// RFC 7672 2.2.2: a secure MX naming a host whose address is insecure: no DANE for it.
		{domain: "mixed.secure.test", mx: dane.Secure, hosts: 1},
		{domain: "badaddr.secure.test", mx: dane.Secure, hosts: 1, err: "address lookup"},
		{domain: "gone.secure.test", mx: dane.Secure},
	} {
		t.Run(tc.domain, func(t *testing.T) {
			res := r.Lookup(ctx, tc.domain)
			if res.MX != tc.mx || res.Usable() != tc.usable || len(res.Hosts) != tc.hosts {
				t.Fatalf("mx %v usable %v hosts %d (%+v), want mx %v usable %v hosts %d", res.MX, res.Usable(), len(res.Hosts), res, tc.mx, tc.usable, tc.hosts)
			}
			if (tc.err == "") != (res.Err == nil) || res.Err != nil && !strings.Contains(res.Err.Error(), tc.err) {
				t.Errorf("err %v, want %q", res.Err, tc.err)
			}
			if tc.hosts > 0 {
				h := res.Hosts[0]
				if len(h.TLSA) != tc.tlsa || h.Dropped != tc.dropped || h.Unusable != tc.unusable {
					t.Errorf("host %s: %d tlsa, %d dropped, %d unusable; want %d, %d, %d", h.Name, len(h.TLSA), h.Dropped, h.Unusable, tc.tlsa, tc.dropped, tc.unusable)
				}
			}
		})
	}

	t.Run("a resolver without AD is never DANE", func(t *testing.T) {
		direct := dane.NewResolver([]string{auth.Addr}, 2*time.Second)
		res := direct.Lookup(ctx, "dane.secure.test")
		if res.MX != dane.Insecure || res.Usable() {
			t.Errorf("answers of a non-validating server: mx %v usable %v", res.MX, res.Usable())
		}
		a := direct.Query(ctx, "_25._tcp.mx1.dane.secure.test", dns.TypeTLSA)
		if a.Status != dane.Insecure || len(a.Records) != 1 {
			t.Errorf("direct TLSA: %v with %d records, want insecure with 1", a.Status, len(a.Records))
		}
	})

	t.Run("resolver stopped", func(t *testing.T) {
		ub.Stop()
		defer ub.Start()
		short := dane.NewResolver([]string{ub.Addr}, 200*time.Millisecond)
		res := short.Lookup(ctx, "dane.secure.test")
		if res.Err == nil || res.MX != dane.Failed {
			t.Errorf("with unbound stopped: mx %v err %v, want failed", res.MX, res.Err)
		}
	})
}

// BenchmarkLookupThroughUnbound is one domain's DANE lookup (MX, then A,
// AAAA and TLSA of its two MX hosts) answered from unbound's cache: what a
// socketmap answer costs with dane = true.
func BenchmarkLookupThroughUnbound(b *testing.B) {
	auth := danetest.StartAuth(b, testZones()...)
	ub := danetest.StartUnbound(b, auth)
	r := dane.NewResolver([]string{ub.Addr}, 2*time.Second)
	ctx := context.Background()
	if res := r.Lookup(ctx, "dane.secure.test"); !res.Usable() {
		b.Fatalf("not usable: %+v", res)
	}
	b.ResetTimer()
	for range b.N {
		if res := r.Lookup(ctx, "dane.secure.test"); !res.Usable() {
			b.Fatalf("not usable: %+v", res)
		}
	}
}
