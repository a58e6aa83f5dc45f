package metrics

import "github.com/prometheus/client_golang/prometheus"

// DMARCHistoryStats are the DMARC history writer's counters
// (dmarcreport.HistoryStats).
type DMARCHistoryStats struct {
	Written uint64 // evaluations written
	Dropped uint64 // evaluations dropped: queue full (a hung disk) or a failed write
	Errors  uint64 // failed writes (ENOSPC, EIO, …)
	Queued  int    // now: evaluations waiting for the disk
	Removed uint64 // day files deleted by [dmarc] history_days
}

// RegisterDMARCHistory makes the history's counters part of every scrape,
// read at scrape time. A later call replaces the source (a reload that
// opens another history) instead of registering duplicate metrics; nil
// stops them.
func (m *Metrics) RegisterDMARCHistory(stats func() DMARCHistoryStats) {
	if m == nil {
		return
	}
	if stats == nil {
		m.historySource.Store(nil)
	} else {
		m.historySource.Store(&stats)
	}
	m.historyOnce.Do(func() { m.reg.MustRegister(newHistoryCollector(m)) })
}

type historyCollector struct {
	m                                       *Metrics
	written, dropped, errs, queued, removed *prometheus.Desc
}

func newHistoryCollector(m *Metrics) *historyCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "dmarc_history", name), help, nil, nil)
	}
	return &historyCollector{
		m:       m,
		written: desc("written_total", "DMARC evaluations written to the history."),
		dropped: desc("dropped_total", "DMARC evaluations dropped (a full queue: the disk hangs; or a failed write): aggregate reports miss them."),
		errs:    desc("errors_total", "Failed DMARC history writes (a full disk, I/O errors)."),
		queued:  desc("queued", "DMARC evaluations waiting for the disk."),
		removed: desc("files_removed_total", "DMARC history day files deleted after [dmarc] history_days."),
	}
}

func (c *historyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.written, c.dropped, c.errs, c.queued, c.removed} {
		ch <- d
	}
}

// Collect reads the source once per scrape.
func (c *historyCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.historySource.Load()
	if src == nil {
		return
	}
	s := (*src)()
	ch <- prometheus.MustNewConstMetric(c.written, prometheus.CounterValue, float64(s.Written))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.Dropped))
	ch <- prometheus.MustNewConstMetric(c.errs, prometheus.CounterValue, float64(s.Errors))
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(s.Queued))
	ch <- prometheus.MustNewConstMetric(c.removed, prometheus.CounterValue, float64(s.Removed))
}
