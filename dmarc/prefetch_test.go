package dmarc

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A prefetched evaluation gives the same result as a direct one, queries
// each name once, and waits one round trip instead of one per label.
func TestPrefetcher(t *testing.T) {
	const rtt = 40 * time.Millisecond
	records := map[string]string{"example.com": "v=DMARC1; p=reject"}
	in := Input{FromDomain: "mail.dept.example.com", SPFDomain: "bounce.example.com", SPFResult: "pass"}

	direct := zone(records)
	direct.delay = rtt
	began := time.Now()
	want := Evaluate(context.Background(), direct, in)
	directTime := time.Since(began)

	dns := zone(records)
	dns.delay = rtt
	p := NewPrefetcher(context.Background(), dns)
	p.Prefetch(in.SPFDomain)  // at MAIL FROM
	p.Prefetch(in.FromDomain) // at the From field
	p.Prefetch(in.FromDomain) // a second From field: nothing new
	time.Sleep(rtt + rtt/2)   // the message arrives meanwhile
	began = time.Now()
	got := Evaluate(context.Background(), p, in)
	prefetchedTime := time.Since(began)

	if got.Result != want.Result || got.Policy != want.Policy || got.PolicyDomain != want.PolicyDomain || got.SPFAligned != want.SPFAligned {
		t.Errorf("prefetched %+v, direct %+v", got, want)
	}
	if got.Result != ResultPass {
		t.Errorf("result %q, want pass", got.Result)
	}
	queries := strings.Fields(dns.queried())
	seen := map[string]int{}
	for _, q := range queries {
		if seen[q]++; seen[q] > 1 {
			t.Errorf("%s queried twice: %v", q, queries)
		}
	}
	if len(queries) != 5 { // mail.dept.example.com, dept.example.com, example.com, com, bounce.example.com
		t.Errorf("queries %v, want 5 names", queries)
	}
	if directTime < 3*rtt || prefetchedTime > rtt/2 {
		t.Errorf("direct evaluation %v (want ≥ %v), prefetched %v (want < %v)", directTime, 3*rtt, prefetchedTime, rtt/2)
	}
}

// Names the prefetcher was not asked for go to the resolver; an invalid
// domain is ignored.
func TestPrefetcherPassesThrough(t *testing.T) {
	dns := zone(map[string]string{"example.org": "v=DMARC1; p=none"})
	p := NewPrefetcher(context.Background(), dns)
	p.Prefetch("not a domain")
	got := Evaluate(context.Background(), p, Input{FromDomain: "example.org"})
	if got.Result != ResultFail || got.Policy != "none" {
		t.Errorf("got %+v", got)
	}
	if q := dns.queried(); q != "_dmarc.example.org" {
		t.Errorf("queries %q", q)
	}
}

// A query still running when the evaluation's context ends gives up.
func TestPrefetcherContext(t *testing.T) {
	dns := zone(nil)
	dns.delay = time.Hour
	msg, end := context.WithCancel(context.Background())
	defer end() // the message ends: the query stops
	p := NewPrefetcher(msg, dns)
	p.Prefetch("example.net")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if got := Evaluate(ctx, p, Input{FromDomain: "example.net"}); got.Result != ResultTempError {
		t.Errorf("got %+v, want temperror", got)
	}
}
