package dane

import (
	"testing"

	"github.com/miekg/dns"
)

// FuzzClassify feeds arbitrary replies to the classification of a
// validating resolver's answer: no panic, and a reply that does not
// answer the question is never secure.
func FuzzClassify(f *testing.F) {
	q := new(dns.Msg)
	q.SetQuestion("_25._tcp.mx.example.", dns.TypeTLSA)
	good := new(dns.Msg)
	good.SetReply(q)
	good.AuthenticatedData = true
	rr, _ := dns.NewRR("_25._tcp.mx.example. 300 IN TLSA 3 1 1 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d")
	good.Answer = append(good.Answer, rr)
	seed, _ := good.Pack()
	f.Add(seed)
	servfail := good.Copy()
	servfail.Rcode = dns.RcodeServerFailure
	seed, _ = servfail.Pack()
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		resp := new(dns.Msg)
		if err := resp.Unpack(data); err != nil {
			return
		}
		a := classify(q, resp, nil)
		if a.Status == Secure && (!resp.AuthenticatedData || len(resp.Question) != 1 || resp.Question[0].Qtype != dns.TypeTLSA) {
			t.Fatalf("secure for a reply that is not an authenticated answer: %v", resp)
		}
		for _, r := range a.Records {
			if r.Header().Rrtype != dns.TypeTLSA {
				t.Fatalf("record of another type kept: %v", r)
			}
		}
	})
}
