package history

import "github.com/prometheus/client_golang/prometheus"

// Counted is a store with statistics (both stores are).
type Counted interface {
	Counters() Counters
}

// Collector exports a store's Counters as spamgate_history_* metrics,
// read at scrape time.
type Collector struct {
	src                                   Counted
	written, dropped, corrupt, queued     *prometheus.Desc
	size, segments, removed, lastWriteBad *prometheus.Desc
}

// NewCollector makes the collector of src; register it once.
func NewCollector(src Counted) *Collector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("spamgate", "history", name), help, labels, nil)
	}
	return &Collector{
		src:          src,
		written:      desc("records_written_total", "Transactions written to the decision history."),
		dropped:      desc("records_dropped_total", "Transactions not recorded: the writer's queue was full (a hung disk or Redis) or the write failed (a full disk, Redis down). Mail is never delayed for it.", "reason"),
		corrupt:      desc("records_corrupt_total", "Damaged records skipped while reading the history."),
		queued:       desc("records_queued", "Transactions waiting for the history writer."),
		size:         desc("size_bytes", "Bytes of the embedded history on disk (bounded by [admin] history_max_bytes)."),
		segments:     desc("segments", "Segment files of the embedded history."),
		removed:      desc("removed_total", "History removed: segments after [admin] history_days (age), segments (file store) or records (Redis) over history_max_bytes (size).", "reason"),
		lastWriteBad: desc("write_failing", "1 while the latest history write failed."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.written, c.dropped, c.corrupt, c.queued, c.size, c.segments, c.removed, c.lastWriteBad} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Counters()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter(c.written, s.Written)
	counter(c.dropped, s.DroppedFull, "full")
	counter(c.dropped, s.DroppedError, "error")
	counter(c.corrupt, s.Corrupt)
	gauge(c.queued, float64(s.Queued))
	if s.SizeBytes >= 0 {
		gauge(c.size, float64(s.SizeBytes))
		gauge(c.segments, float64(s.SegmentsKept))
	}
	counter(c.removed, s.RemovedAge, "age")
	counter(c.removed, s.RemovedSize, "size")
	bad := 0.0
	if s.LastWriteFail {
		bad = 1
	}
	gauge(c.lastWriteBad, bad)
}
