package metrics

import "github.com/prometheus/client_golang/prometheus"

// DNSStats are the resolver's counters since it was made. The fields match
// dnsx.Stats one for one, so metrics.DNSStats(resolver.Stats()) converts.
type DNSStats struct {
	Queries     uint64 // queries sent to nameservers, retries included
	CacheHits   uint64 // questions answered from the cache
	CacheMisses uint64 // questions the cache did not have
	Errors      uint64 // questions that ended in a temporary error

	CacheBytes     uint64 // now: estimated heap of the cached answers
	CacheOversized uint64 // answers not cached for being over [dns] cache_max_answer_bytes
	InFlight       uint64 // now: questions being asked of nameservers
	WaitsProcess   uint64 // questions that waited for a slot under [dns] max_inflight
	WaitsSession   uint64 // questions that waited for a slot under [dns] max_inflight_session
	WaitFailures   uint64 // questions that failed because their deadline came before a slot
}

// RegisterDNS makes the resolver's counters part of every scrape; they are
// read at scrape time, so nothing is counted twice. A later call replaces
// the source (a reload that builds a new resolver) instead of registering
// duplicate metrics. A nil stats stops the DNS metrics.
func (m *Metrics) RegisterDNS(stats func() DNSStats) {
	if m == nil {
		return
	}
	if stats == nil {
		m.dnsSource.Store(nil)
	} else {
		m.dnsSource.Store(&stats)
	}
	m.dnsOnce.Do(func() { m.reg.MustRegister(newDNSCollector(m)) })
}

// dnsCollector exports the current DNS source's counters.
type dnsCollector struct {
	m                           *Metrics
	queries, hits, misses, errs *prometheus.Desc
	// The limits of issue 18.3 and 12.3: the cache's bytes, and the
	// queries in flight with the waits and failures their caps cause.
	cacheBytes, oversized, inFlight, waits, waitFailures *prometheus.Desc
}

func newDNSCollector(m *Metrics) *dnsCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "dns", name), help, labels, nil)
	}
	return &dnsCollector{
		m:            m,
		queries:      desc("queries_total", "DNS queries sent to nameservers, every attempt and TCP retry included."),
		hits:         desc("cache_hits_total", "DNS questions answered from the cache."),
		misses:       desc("cache_misses_total", "DNS questions the cache did not have."),
		errs:         desc("errors_total", "DNS questions that ended in a temporary error (not NXDOMAIN/NODATA)."),
		cacheBytes:   desc("cache_bytes", "Estimated heap held by the cached DNS answers (bounded by [dns] cache_bytes)."),
		oversized:    desc("cache_oversized_total", "DNS answers returned but not cached for being over [dns] cache_max_answer_bytes."),
		inFlight:     desc("inflight", "DNS questions being asked of nameservers now."),
		waits:        desc("limit_waits_total", "DNS questions that waited for a slot: scope process is [dns] max_inflight, session is max_inflight_session.", "scope"),
		waitFailures: desc("limit_wait_failures_total", "DNS questions that failed (temporarily) because their deadline came before a query slot."),
	}
}

func (c *dnsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queries, c.hits, c.misses, c.errs, c.cacheBytes, c.oversized, c.inFlight, c.waits, c.waitFailures} {
		ch <- d
	}
}

// Collect reads the source once per scrape, so the values come from one
// call.
func (c *dnsCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.dnsSource.Load()
	if src == nil {
		return
	}
	s := (*src)()
	for _, v := range []struct {
		d *prometheus.Desc
		n uint64
	}{
		{c.queries, s.Queries}, {c.hits, s.CacheHits}, {c.misses, s.CacheMisses}, {c.errs, s.Errors},
		{c.oversized, s.CacheOversized}, {c.waitFailures, s.WaitFailures},
	} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.n))
	}
	ch <- prometheus.MustNewConstMetric(c.cacheBytes, prometheus.GaugeValue, float64(s.CacheBytes))
	ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(s.InFlight))
	ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(s.WaitsProcess), "process")
	ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(s.WaitsSession), "session")
}
