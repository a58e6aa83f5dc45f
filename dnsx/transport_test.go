package dnsx_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"spamgate/dnsx"
)

func TestTimeout(t *testing.T) {
	s, z := start(t, testZone)
	z.Timeout("slow.example.test", dns.TypeANY)
	tests := []struct {
		name     string
		timeout  time.Duration // Config.Timeout
		deadline time.Duration // ctx; 0: none
		wantMax  time.Duration
	}{
		// The caller's deadline cuts the 2s attempt short.
		{"ctx deadline", 2 * time.Second, 300 * time.Millisecond, 300 * time.Millisecond},
		// No deadline: two attempts of Timeout each.
		{"attempts", 100 * time.Millisecond, 0, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResolver(t, dnsx.Config{Timeout: tt.timeout}, s.Addr)
			ctx := context.Background()
			if tt.deadline > 0 {
				ctx = ctxTimeout(t, tt.deadline)
			}
			start := time.Now()
			_, err := r.LookupTXT(ctx, "slow.example.test")
			elapsed := time.Since(start)
			de := dnsError(t, err)
			if !de.IsTimeout || !de.IsTemporary || de.IsNotFound {
				t.Fatalf("got %+v", de)
			}
			if elapsed > tt.wantMax+300*time.Millisecond { // slack for a loaded machine
				t.Fatalf("took %v, want about %v", elapsed, tt.wantMax)
			}
			if st := r.Stats(); st.Errors != 1 {
				t.Fatalf("stats %+v: want 1 error", st)
			}
		})
	}
}

func TestCanceled(t *testing.T) {
	s, z := start(t, testZone)
	z.Timeout("slow.example.test", dns.TypeANY)
	r := newResolver(t, dnsx.Config{Timeout: 5 * time.Second}, s.Addr)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := r.LookupTXT(ctx, "slow.example.test")
	if de := dnsError(t, err); !de.IsTemporary || de.IsTimeout {
		t.Fatalf("got %+v", de)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancellation took %v", d)
	}
	// Already cancelled: no query at all.
	before := s.Queries()
	if _, err := r.LookupTXT(ctx, "example.test"); !dnsx.IsTemporary(err) || s.Queries() != before {
		t.Fatalf("err %v, queries %d → %d", err, before, s.Queries())
	}
}

func TestTCPFallback(t *testing.T) {
	big := strings.Repeat("k", 250)
	text := "$ORIGIN example.test.\n$TTL 60\nsmall A 192.0.2.1\n"
	for range 7 { // about 1.8 KB of TXT: over the 1232 bytes of EDNS0
		text += "big TXT " + big + "\n"
	}
	tests := []struct {
		name     string
		truncUDP bool
		lookup   func(*dnsx.Resolver) (int, error)
		want     int
	}{
		{"big answer", false, func(r *dnsx.Resolver) (int, error) {
			txt, err := r.LookupTXT(context.Background(), "big.example.test")
			if err == nil && txt[0] != big {
				err = fmt.Errorf("TXT %q", txt[0])
			}
			return len(txt), err
		}, 7},
		{"server truncates", true, func(r *dnsx.Resolver) (int, error) {
			ips, err := r.LookupIP(context.Background(), "ip4", "small.example.test")
			return len(ips), err
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := start(t, text)
			s.SetTruncateUDP(tt.truncUDP)
			r := newResolver(t, dnsx.Config{}, s.Addr)
			n, err := tt.lookup(r)
			if err != nil || n != tt.want {
				t.Fatalf("got %d records, %v; want %d", n, err, tt.want)
			}
			if s.Queries() != 2 || r.Stats().Queries != 2 {
				t.Fatalf("server saw %d queries, resolver sent %d: want UDP then TCP", s.Queries(), r.Stats().Queries)
			}
		})
	}
}

func TestFailover(t *testing.T) {
	good, _ := start(t, testZone)
	servfail, sz := start(t, testZone)
	sz.ServFail("mx1.example.test", dns.TypeANY)
	dropping, _ := start(t, testZone)
	dropping.SetDropRate(1)
	tests := []struct {
		name  string
		first string
	}{
		{"first times out", dropping.Addr},
		{"first servfails", servfail.Addr},
		{"first unreachable", closedPort(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResolver(t, dnsx.Config{CacheSize: -1}, tt.first, good.Addr)
			ctx := ctxTimeout(t, 2*time.Second)
			txt, err := r.LookupTXT(ctx, "mx1.example.test") // NODATA, a definite answer
			if txt != nil || !dnsx.IsNotFound(err) {
				t.Fatalf("got %q, %v", txt, err)
			}
			if de := dnsError(t, err); de.Server != good.Addr {
				t.Fatalf("answered by %q, want the second server", de.Server)
			}
		})
	}
}

func TestMalformedAnswers(t *testing.T) {
	tests := []struct {
		name  string
		reply func(t *testing.T, q *dns.Msg) []byte
	}{
		{"garbage", func(t *testing.T, q *dns.Msg) []byte {
			b := packReply(t, q, dns.RcodeSuccess, nil, nil)
			return append(b[:12], 0xff, 0xff) // header, then a broken question
		}},
		{"unparsable TXT", func(t *testing.T, q *dns.Msg) []byte {
			b := packReply(t, q, dns.RcodeSuccess, []dns.RR{rr(t, q.Question[0].Name+" 60 IN TXT abc")}, nil)
			b[len(b)-4] = 200 // the string's length now runs past the record
			return b
		}},
		{"mismatched question", func(t *testing.T, q *dns.Msg) []byte {
			q = q.Copy()
			q.Question[0].Name = "other.example.test."
			return packReply(t, q, dns.RcodeSuccess, []dns.RR{rr(t, "other.example.test. 60 IN TXT x")}, nil)
		}},
		{"not a response", func(t *testing.T, q *dns.Msg) []byte {
			b, _ := q.Pack()
			return b
		}},
		{"refused", func(t *testing.T, q *dns.Msg) []byte {
			return packReply(t, q, dns.RcodeRefused, nil, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := rawServer(t, func(q *dns.Msg) []byte { return tt.reply(t, q) })
			r := newResolver(t, dnsx.Config{Attempts: 1}, addr)
			txt, err := r.LookupTXT(ctxTimeout(t, 2*time.Second), "x.example.test")
			de := dnsError(t, err)
			if txt != nil || !de.IsTemporary || de.IsTimeout || de.IsNotFound {
				t.Fatalf("got %q, %+v", txt, de)
			}
			t.Log(de)
		})
	}
}
