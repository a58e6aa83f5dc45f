package metrics

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// namespace prefixes every spamgate metric name.
const namespace = "spamgate"

// Metrics holds spamgate's collectors and their registry.
type Metrics struct {
	reg *prometheus.Registry

	sessions       prometheus.Counter
	sessionsActive prometheus.Gauge
	inboundTLS     *prometheus.CounterVec
	tlsVersions    *labelCap
	tlsCiphers     *labelCap
	transactions   *prometheus.CounterVec
	replies        *prometheus.CounterVec
	checkResults   *prometheus.CounterVec
	checkDuration  *prometheus.HistogramVec
	greylist       *prometheus.CounterVec
	storeErrors    *prometheus.CounterVec
	score          prometheus.Histogram
	reloads        *prometheus.CounterVec
	lastReloadOK   prometheus.Gauge

	// dnsSource is the resolver's statistics, swapped by RegisterDNS; the
	// collector reading it is registered once.
	dnsSource atomic.Pointer[func() DNSStats]
	dnsOnce   sync.Once

	// historySource is the DMARC history's statistics, swapped by
	// RegisterDMARCHistory the same way.
	historySource atomic.Pointer[func() DMARCHistoryStats]
	historyOnce   sync.Once

	// stores is the bounded stores' statistics (RegisterStores).
	stores storeSource
}

// New makes a Metrics with its own registry, the Go runtime and process
// collectors included.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		// TLS versions are a handful; ciphers a few dozen in practice.
		tlsVersions: newLabelCap(16),
		tlsCiphers:  newLabelCap(64),
	}
	m.sessionCollectors()
	m.checkCollectors()
	m.stateCollectors()
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry returns the registry every spamgate metric is in (nil for a nil
// Metrics), for tests and for callers adding their own collectors.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.reg
}

// counterVec makes and registers a counter vector named spamgate_NAME.
func (m *Metrics) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: name, Help: help,
	}, labels)
	m.reg.MustRegister(c)
	return c
}
