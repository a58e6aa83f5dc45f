package metrics

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// StoreStats are the counters of the bounded stores and limiters that are
// not DNS: the in-process greylist store, the MTA-STS policy cache and
// fetches, and the LDAP recipient lookups. Counters count since the
// component was made (a reload that makes a new one starts again at 0,
// which Prometheus's rate() reads as a reset).
type StoreStats struct {
	// The in-process greylist store ([greylist] store = "memory").
	GreylistTriplets, GreylistWhitelist                uint64 // now
	GreylistEvictedWaiting, GreylistEvictedPassed      uint64
	GreylistEvictedWhitelist                           uint64
	MTASTSFetchesRefused, MTASTSEvicted, MTASTSTrimmed uint64
	LDAPQueries, LDAPRateLimited, LDAPClientWaits      uint64
	GreylistBreakerOpenings                            uint64 // the greylist store's circuit breaker
	HasGreylistMemory, HasMTASTS, HasLDAP              bool
}

// storeSource is swapped by RegisterStores; see RegisterDNS.
type storeSource struct {
	fn   atomic.Pointer[func() StoreStats]
	once sync.Once
}

// RegisterStores makes the stores' counters part of every scrape, read at
// scrape time through stats (which follows reloads). A later call replaces
// the source.
func (m *Metrics) RegisterStores(stats func() StoreStats) {
	if m == nil {
		return
	}
	m.stores.fn.Store(&stats)
	m.stores.once.Do(func() { m.reg.MustRegister(newStoreCollector(m)) })
}

type storeCollector struct {
	m                                     *Metrics
	glEntries, glEvicted, glBreaker       *prometheus.Desc
	stsRefused, stsEvicted, stsTrimmed    *prometheus.Desc
	ldapQueries, ldapLimited, ldapWaiting *prometheus.Desc
}

func newStoreCollector(m *Metrics) *storeCollector {
	desc := func(sub, name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, sub, name), help, labels, nil)
	}
	return &storeCollector{
		m:           m,
		glEntries:   desc("greylist_memory", "entries", "Entries in the in-process greylist store (bounded by [greylist] max_entries, max_whitelist).", "kind"),
		glEvicted:   desc("greylist_memory", "evicted_total", "Entries evicted from the full in-process greylist store, by kind (waiting go first).", "kind"),
		glBreaker:   desc("greylist", "breaker_openings_total", "Times the greylist store's circuit breaker opened ([greylist.redis] breaker_failures in a row); while open, greylisting follows on_store_error."),
		stsRefused:  desc("mta_sts", "fetches_refused_total", "MTA-STS lookups answered without a policy because [tls_policy_map] mta_sts_max_fetches were running."),
		stsEvicted:  desc("mta_sts", "evicted_total", "MTA-STS policies pushed out of the full cache."),
		stsTrimmed:  desc("mta_sts", "patterns_trimmed_total", "MTA-STS policies with more mx patterns than kept."),
		ldapQueries: desc("recipients_ldap", "queries_total", "LDAP searches for recipients."),
		ldapLimited: desc("recipients_ldap", "rate_limited_total", "Recipient lookups not made: the client network spent its [recipients.ldap] client_miss_rate."),
		ldapWaiting: desc("recipients_ldap", "client_waits_total", "Recipient lookups that waited because their client network held client_max_lookups connections."),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.glEntries, c.glEvicted, c.glBreaker, c.stsRefused, c.stsEvicted, c.stsTrimmed,
		c.ldapQueries, c.ldapLimited, c.ldapWaiting} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.stores.fn.Load()
	if src == nil {
		return
	}
	s := (*src)()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(c.glBreaker, s.GreylistBreakerOpenings)
	if s.HasGreylistMemory {
		ch <- prometheus.MustNewConstMetric(c.glEntries, prometheus.GaugeValue, float64(s.GreylistTriplets), "triplet")
		ch <- prometheus.MustNewConstMetric(c.glEntries, prometheus.GaugeValue, float64(s.GreylistWhitelist), "whitelist")
		counter(c.glEvicted, s.GreylistEvictedWaiting, "waiting")
		counter(c.glEvicted, s.GreylistEvictedPassed, "passed")
		counter(c.glEvicted, s.GreylistEvictedWhitelist, "whitelist")
	}
	if s.HasMTASTS {
		counter(c.stsRefused, s.MTASTSFetchesRefused)
		counter(c.stsEvicted, s.MTASTSEvicted)
		counter(c.stsTrimmed, s.MTASTSTrimmed)
	}
	if s.HasLDAP {
		counter(c.ldapQueries, s.LDAPQueries)
		counter(c.ldapLimited, s.LDAPRateLimited)
		counter(c.ldapWaiting, s.LDAPClientWaits)
	}
}
