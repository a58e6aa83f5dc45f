package admin

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"spamgate/metrics"
)

// consoleMetrics are the console's counters, in spamgate's registry. A
// nil *consoleMetrics records nothing.
type consoleMetrics struct {
	logins   *prometheus.CounterVec // result: ok, failed, limited
	requests *prometheus.CounterVec // endpoint (the route pattern), status code
	changes  *prometheus.CounterVec // action: rule.add, …
}

func newConsoleMetrics(m *metrics.Metrics) *consoleMetrics {
	reg := m.Registry()
	if reg == nil {
		return nil
	}
	return &consoleMetrics{
		logins: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "spamgate", Subsystem: "admin",
			Name: "logins_total", Help: "Admin console logins by result (ok, failed, limited: refused by the per-client failure limit)."}, []string{"result"})),
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "spamgate", Subsystem: "admin",
			Name: "requests_total", Help: "Admin console requests by route pattern and HTTP status."}, []string{"endpoint", "status"})),
		changes: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "spamgate", Subsystem: "admin",
			Name: "changes_total", Help: "Changes made through the admin console (rules, greylist), by action."}, []string{"action"})),
	}
}

// register adds c, or returns the one a console of an earlier start (same
// registry) registered.
func register(reg *prometheus.Registry, c *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return old
			}
		}
		panic(err) // a name clash within spamgate: a programming error
	}
	return c
}

func (m *consoleMetrics) login(result string) {
	if m != nil {
		m.logins.WithLabelValues(result).Inc()
	}
}

func (m *consoleMetrics) request(endpoint string, status int) {
	if m != nil {
		m.requests.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
	}
}

func (m *consoleMetrics) change(action string) {
	if m != nil {
		m.changes.WithLabelValues(action).Inc()
	}
}
