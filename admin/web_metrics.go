package admin

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// webMetrics are the web UI's counters, in spamgate's registry beside the
// console's (metrics.go). A nil *webMetrics records nothing.
type webMetrics struct {
	refusals *prometheus.CounterVec // reason: no_session, csrf, login_csrf
	evicted  prometheus.Counter
	console  *consoleMetrics // requests by route pattern and status
}

func newWebMetrics(c *Console, sessions *sessionStore) *webMetrics {
	if c == nil || c.o.Metrics.Registry() == nil {
		return nil
	}
	reg := c.o.Metrics.Registry()
	m := &webMetrics{
		refusals: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "spamgate", Subsystem: "admin",
			Name: "web_refusals_total", Help: "Web UI requests refused, by reason (no_session: a page or form without a live session; csrf: a form without its session's token; login_csrf: a log-in form without its token)."}, []string{"reason"})),
		console: c.m,
	}
	ev := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "spamgate", Subsystem: "admin",
		Name: "web_sessions_evicted_total", Help: "Web UI sessions ended early because the session table was full (the idlest goes)."}, nil))
	m.evicted = ev.WithLabelValues()
	live := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "spamgate", Subsystem: "admin",
		Name: "web_sessions", Help: "Web UI sessions held (live or not yet swept)."}, func() float64 { return float64(sessions.len()) })
	if err := reg.Register(live); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			panic(err) // a name clash within spamgate: a programming error
		}
		// A console of an earlier start registered it: its function reads
		// that console's table, which is no longer served; replace it.
		reg.Unregister(are.ExistingCollector)
		reg.MustRegister(live)
	}
	return m
}

func (m *webMetrics) refused(reason string) {
	if m != nil {
		m.refusals.WithLabelValues(reason).Inc()
	}
}

func (m *webMetrics) sessionEvicted() {
	if m != nil {
		m.evicted.Inc()
	}
}

func (m *webMetrics) request(r *http.Request, status int) {
	if m != nil {
		m.console.request(r.Pattern, status)
	}
}
