package metrics

import "github.com/prometheus/client_golang/prometheus"

// DNSStats are the resolver's counters since it was made. The fields match
// dnsx.Stats one for one, so metrics.DNSStats(resolver.Stats()) converts.
type DNSStats struct {
	Queries     uint64 // queries sent to nameservers, retries included
	CacheHits   uint64 // questions answered from the cache
	CacheMisses uint64 // questions the cache did not have
	Errors      uint64 // questions that ended in a temporary error
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
}

func newDNSCollector(m *Metrics) *dnsCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "dns", name), help, nil, nil)
	}
	return &dnsCollector{
		m:       m,
		queries: desc("queries_total", "DNS queries sent to nameservers, every attempt and TCP retry included."),
		hits:    desc("cache_hits_total", "DNS questions answered from the cache."),
		misses:  desc("cache_misses_total", "DNS questions the cache did not have."),
		errs:    desc("errors_total", "DNS questions that ended in a temporary error (not NXDOMAIN/NODATA)."),
	}
}

func (c *dnsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.queries
	ch <- c.hits
	ch <- c.misses
	ch <- c.errs
}

// Collect reads the source once per scrape, so the four values come from
// one call.
func (c *dnsCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.dnsSource.Load()
	if src == nil {
		return
	}
	s := (*src)()
	for _, v := range []struct {
		d *prometheus.Desc
		n uint64
	}{{c.queries, s.Queries}, {c.hits, s.CacheHits}, {c.misses, s.CacheMisses}, {c.errs, s.Errors}} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.n))
	}
}
