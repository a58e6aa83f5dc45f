package metrics

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DKIMKeyStats are the DKIM key table's figures ([dkim] keys_dir).
type DKIMKeyStats struct {
	Domains, Keys, Active int // now
	Broken                int // key files the last scan refused (their domains keep older keys or go unsigned)
	Reloads, ReloadErrors uint64
	LastScan              time.Duration
}

// RegisterDKIMKeys makes the key table's figures part of every scrape, read
// at scrape time. A later call (a reload that opens another directory)
// replaces the source. The collector is found again through the registry,
// so Metrics needs no field for it.
func (m *Metrics) RegisterDKIMKeys(stats func() DKIMKeyStats) {
	if m == nil || stats == nil {
		return
	}
	c := newDKIMKeysCollector()
	c.src.Store(&stats)
	var are prometheus.AlreadyRegisteredError
	if err := m.reg.Register(c); errors.As(err, &are) {
		if old, ok := are.ExistingCollector.(*dkimKeysCollector); ok {
			old.src.Store(&stats)
		}
	}
}

type dkimKeysCollector struct {
	src                                   atomic.Pointer[func() DKIMKeyStats]
	domains, keys, active, broken         *prometheus.Desc
	reloads, reloadErrors, lastScanSecond *prometheus.Desc
}

func newDKIMKeysCollector() *dkimKeysCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "dkim_keys", name), help, nil, nil)
	}
	return &dkimKeysCollector{
		domains:        desc("domains", "Domains in the DKIM key table."),
		keys:           desc("files", "Key files in the DKIM key table (every state)."),
		active:         desc("active", "Keys that sign (one per domain and algorithm)."),
		broken:         desc("broken_files", "Key files the last scan refused (mode, parse errors): their domains keep the keys they had."),
		reloads:        desc("reloads_total", "Reloads of the DKIM key table (watch and SIGHUP)."),
		reloadErrors:   desc("reload_errors_total", "Reloads that refused a file or the whole directory."),
		lastScanSecond: desc("last_scan_seconds", "How long the last scan of keys_dir took."),
	}
}

func (c *dkimKeysCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.domains, c.keys, c.active, c.broken, c.reloads, c.reloadErrors, c.lastScanSecond} {
		ch <- d
	}
}

func (c *dkimKeysCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.src.Load()
	if src == nil {
		return
	}
	s := (*src)()
	ch <- prometheus.MustNewConstMetric(c.domains, prometheus.GaugeValue, float64(s.Domains))
	ch <- prometheus.MustNewConstMetric(c.keys, prometheus.GaugeValue, float64(s.Keys))
	ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(s.Active))
	ch <- prometheus.MustNewConstMetric(c.broken, prometheus.GaugeValue, float64(s.Broken))
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(s.Reloads))
	ch <- prometheus.MustNewConstMetric(c.reloadErrors, prometheus.CounterValue, float64(s.ReloadErrors))
	ch <- prometheus.MustNewConstMetric(c.lastScanSecond, prometheus.GaugeValue, s.LastScan.Seconds())
}
