package dnstest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// bigZone has a TXT answer of about 2 KB: over 512 and over 1232 bytes.
func bigZone(t *testing.T) *Zone {
	t.Helper()
	z := NewZone()
	chunk := strings.Repeat("x", 250)
	for i := range 8 {
		z.Add(&dns.TXT{
			Hdr: dns.RR_Header{Name: "big.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
			Txt: []string{string(rune('a'+i)) + chunk},
		})
	}
	z.Add(&dns.A{Hdr: dns.RR_Header{Name: "small.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: []byte{192, 0, 2, 1}})
	return z
}

func exchange(t *testing.T, s *Server, net, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	if edns > 0 {
		q.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: net, Timeout: 2 * time.Second, UDPSize: 65535}
	resp, _, err := c.Exchange(q, s.Addr)
	if err != nil {
		t.Fatalf("%s %s: %v", net, name, err)
	}
	return resp
}

func TestServerTransports(t *testing.T) {
	s := Start(t, bigZone(t))
	tests := []struct {
		name      string
		net       string
		qname     string
		qtype     uint16
		edns      uint16
		truncated bool
		answers   int
	}{
		{"udp small", "udp", "small.test.", dns.TypeA, 0, false, 1},
		{"udp no edns", "udp", "big.test.", dns.TypeTXT, 0, true, 1},
		{"udp edns 1232", "udp", "big.test.", dns.TypeTXT, 1232, true, 4},
		{"udp edns 4096", "udp", "big.test.", dns.TypeTXT, 4096, false, 8},
		{"tcp", "tcp", "big.test.", dns.TypeTXT, 0, false, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := exchange(t, s, tt.net, tt.qname, tt.qtype, tt.edns)
			if resp.Truncated != tt.truncated || len(resp.Answer) != tt.answers || !resp.Authoritative {
				t.Fatalf("TC=%v AA=%v answers=%d", resp.Truncated, resp.Authoritative, len(resp.Answer))
			}
			if (tt.edns > 0) != (resp.IsEdns0() != nil) {
				t.Fatalf("EDNS0 in reply: %v", resp.IsEdns0())
			}
		})
	}
}

func TestSetTruncateUDP(t *testing.T) {
	s := Start(t, bigZone(t))
	s.SetTruncateUDP(true)
	resp := exchange(t, s, "udp", "small.test.", dns.TypeA, 1232)
	if !resp.Truncated || len(resp.Answer) != 0 || resp.IsEdns0() == nil {
		t.Fatalf("UDP: TC=%v answers=%d", resp.Truncated, len(resp.Answer))
	}
	if resp := exchange(t, s, "tcp", "small.test.", dns.TypeA, 1232); resp.Truncated || len(resp.Answer) != 1 {
		t.Fatalf("TCP: TC=%v answers=%d", resp.Truncated, len(resp.Answer))
	}
	if got := s.Queries(); got != 2 {
		t.Fatalf("Queries() = %d, want 2", got)
	}
}

func TestServFailAndTimeoutRules(t *testing.T) {
	z := NewZone()
	z.ServFail("sf.test", dns.TypeA)
	z.Timeout("to.test", dns.TypeANY)
	s := Start(t, z)
	if resp := exchange(t, s, "udp", "sf.test.", dns.TypeA, 0); resp.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s", dns.RcodeToString[resp.Rcode])
	}
	q := new(dns.Msg).SetQuestion("to.test.", dns.TypeTXT)
	if _, _, err := (&dns.Client{Timeout: 200 * time.Millisecond}).Exchange(q, s.Addr); err == nil {
		t.Fatal("a Timeout rule was answered")
	}
}

func TestSetDelay(t *testing.T) {
	s := Start(t, bigZone(t))
	s.SetDelay(150 * time.Millisecond)
	start := time.Now()
	exchange(t, s, "udp", "small.test.", dns.TypeA, 0)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("answered after %v", d)
	}
	// A long delay must not hold up cleanup: once the query is in, the
	// test ends, and Cleanup must return at once.
	s.SetDelay(time.Hour)
	go func() {
		q := new(dns.Msg).SetQuestion("small.test.", dns.TypeA)
		_, _, _ = (&dns.Client{Timeout: 100 * time.Millisecond}).Exchange(q, s.Addr)
	}()
	for s.Queries() < 2 {
		time.Sleep(time.Millisecond)
	}
}

func TestSetDropRate(t *testing.T) {
	z := bigZone(t)
	// The same rate drops the same queries on every server and run.
	draws := func() []bool {
		s := Start(t, z)
		s.SetDropRate(0.5)
		out := make([]bool, 100)
		for i := range out {
			out[i] = s.drop()
		}
		return out
	}
	first, second := draws(), draws()
	if !slices.Equal(first, second) {
		t.Fatal("two servers drew different drops")
	}
	if n := count(first); n < 30 || n > 70 {
		t.Fatalf("dropped %d of 100 at rate 0.5", n)
	}
	// Over the network: a dropped query is counted and never answered.
	s := Start(t, z)
	s.SetDropRate(1)
	q := new(dns.Msg).SetQuestion("small.test.", dns.TypeA)
	if _, _, err := (&dns.Client{Timeout: 50 * time.Millisecond}).Exchange(q, s.Addr); err == nil {
		t.Fatal("a query was answered at drop rate 1")
	}
	if got := s.Queries(); got != 1 {
		t.Fatalf("Queries() = %d, want 1", got)
	}
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// MaxInFlight counts the queries the server holds at once (here all of
// them: the delay outlasts the test).
func TestMaxInFlight(t *testing.T) {
	s := Start(t, bigZone(t))
	s.SetDelay(time.Hour)
	const n = 5
	for range n {
		go func() {
			q := new(dns.Msg).SetQuestion("small.test.", dns.TypeA)
			_, _, _ = (&dns.Client{Timeout: 100 * time.Millisecond}).Exchange(q, s.Addr)
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Queries() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := s.MaxInFlight(); got != n {
		t.Fatalf("MaxInFlight() = %d, want %d", got, n)
	}
	s.ResetMaxInFlight() // from those still held: all n
	if got := s.MaxInFlight(); got != n {
		t.Fatalf("after reset: MaxInFlight() = %d, want %d", got, n)
	}
}
