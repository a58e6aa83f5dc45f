package metrics

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"spamgate/dnsx"
)

// DNSStats must stay convertible from the resolver's own Stats: the daemon
// registers func() DNSStats { return DNSStats(resolver.Stats()) }.
var _ = DNSStats(dnsx.Stats{})

var dnsNames = []string{
	"spamgate_dns_queries_total", "spamgate_dns_cache_hits_total",
	"spamgate_dns_cache_misses_total", "spamgate_dns_errors_total",
}

func TestRegisterDNS(t *testing.T) {
	m := New()
	var queries atomic.Uint64
	m.RegisterDNS(func() DNSStats {
		return DNSStats{Queries: queries.Load(), CacheHits: 7, CacheMisses: 3, Errors: 1}
	})
	queries.Store(12) // read at scrape time, not at registration
	const want = `
# HELP spamgate_dns_cache_hits_total DNS questions answered from the cache.
# TYPE spamgate_dns_cache_hits_total counter
spamgate_dns_cache_hits_total 7
# HELP spamgate_dns_cache_misses_total DNS questions the cache did not have.
# TYPE spamgate_dns_cache_misses_total counter
spamgate_dns_cache_misses_total 3
# HELP spamgate_dns_errors_total DNS questions that ended in a temporary error (not NXDOMAIN/NODATA).
# TYPE spamgate_dns_errors_total counter
spamgate_dns_errors_total 1
# HELP spamgate_dns_queries_total DNS queries sent to nameservers, every attempt and TCP retry included.
# TYPE spamgate_dns_queries_total counter
spamgate_dns_queries_total 12
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), dnsNames...); err != nil {
		t.Error(err)
	}
}

// A reload builds a new resolver: registering it again replaces the source
// instead of panicking on duplicate metrics; nil removes the DNS metrics.
func TestRegisterDNSReplace(t *testing.T) {
	m := New()
	m.RegisterDNS(func() DNSStats { return DNSStats{Queries: 1} })
	m.RegisterDNS(func() DNSStats { return DNSStats{Queries: 2} })
	const want = `
# HELP spamgate_dns_queries_total DNS queries sent to nameservers, every attempt and TCP retry included.
# TYPE spamgate_dns_queries_total counter
spamgate_dns_queries_total 2
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "spamgate_dns_queries_total"); err != nil {
		t.Error(err)
	}
	m.RegisterDNS(nil)
	if n, err := testutil.GatherAndCount(m.reg, dnsNames...); err != nil || n != 0 {
		t.Errorf("after RegisterDNS(nil): %d DNS series (err %v), want 0", n, err)
	}
}

// The limits' metrics: cache bytes and queries in flight are gauges, the
// waits are counted per scope.
func TestRegisterDNSLimits(t *testing.T) {
	m := New()
	m.RegisterDNS(func() DNSStats {
		return DNSStats{CacheBytes: 4096, CacheOversized: 2, InFlight: 3, WaitsProcess: 5, WaitsSession: 7, WaitFailures: 1}
	})
	const want = `
# HELP spamgate_dns_cache_bytes Estimated heap held by the cached DNS answers (bounded by [dns] cache_bytes).
# TYPE spamgate_dns_cache_bytes gauge
spamgate_dns_cache_bytes 4096
# HELP spamgate_dns_cache_oversized_total DNS answers returned but not cached for being over [dns] cache_max_answer_bytes.
# TYPE spamgate_dns_cache_oversized_total counter
spamgate_dns_cache_oversized_total 2
# HELP spamgate_dns_inflight DNS questions being asked of nameservers now.
# TYPE spamgate_dns_inflight gauge
spamgate_dns_inflight 3
# HELP spamgate_dns_limit_wait_failures_total DNS questions that failed (temporarily) because their deadline came before a query slot.
# TYPE spamgate_dns_limit_wait_failures_total counter
spamgate_dns_limit_wait_failures_total 1
# HELP spamgate_dns_limit_waits_total DNS questions that waited for a slot: scope process is [dns] max_inflight, session is max_inflight_session.
# TYPE spamgate_dns_limit_waits_total counter
spamgate_dns_limit_waits_total{scope="process"} 5
spamgate_dns_limit_waits_total{scope="session"} 7
`
	names := []string{
		"spamgate_dns_cache_bytes", "spamgate_dns_cache_oversized_total", "spamgate_dns_inflight",
		"spamgate_dns_limit_wait_failures_total", "spamgate_dns_limit_waits_total",
	}
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}
