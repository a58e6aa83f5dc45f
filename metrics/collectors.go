package metrics

import "github.com/prometheus/client_golang/prometheus"

// durationBuckets span 100µs (a cached DNS answer) to 10s (a DNS timeout
// after retries), half a decade apart. A function, not a variable: no
// package-level state that one caller could change for all.
func durationBuckets() []float64 { return prometheus.ExponentialBucketsRange(0.0001, 10, 11) }

// scoreBuckets suit spamd-style points: ham is mostly below 0..2, the usual
// spam threshold is 5, and heavy spam goes far above it.
func scoreBuckets() []float64 { return []float64{-5, -2, 0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20} }

func (m *Metrics) sessionCollectors() {
	m.sessions = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "sessions_total",
		Help: "SMTP sessions (milter connections) started.",
	})
	m.sessionsActive = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "sessions_active",
		Help: "SMTP sessions in progress.",
	})
	m.reg.MustRegister(m.sessions, m.sessionsActive)
	m.inboundTLS = m.counterVec("inbound_tls_sessions_total",
		"Inbound sessions by TLS version and cipher (version none: cleartext).", "version", "cipher")
	m.transactions = m.counterVec("transactions_total",
		"Mail transactions by direction.", "direction")
	m.replies = m.counterVec("replies_total",
		"Decisions sent to Postfix by stage, deciding check and SMTP code.", "stage", "check", "code")
}

func (m *Metrics) checkCollectors() {
	m.checkResults = m.counterVec("check_results_total",
		"Results of each check (spf/pass, dkim/fail, dnsbl/listed, …).", "check", "result")
	m.checkDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "check_duration_seconds",
		Help: "Time each check took.", Buckets: durationBuckets(),
	}, []string{"check"})
	m.score = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "spam_score",
		Help: "Spam score of scored messages.", Buckets: scoreBuckets(),
	})
	m.reg.MustRegister(m.checkDuration, m.score)
	m.greylist = m.counterVec("greylist_total",
		"Greylisting outcomes (new, early, pass, awl, whitelist, exempt, skipped, error).", "outcome")
}

func (m *Metrics) stateCollectors() {
	m.storeErrors = m.counterVec("store_errors_total",
		"Errors talking to a backing store (greylist, policy, ldap, spamd).", "store")
	m.reloads = m.counterVec("config_reloads_total",
		"Configuration reloads by result (success, failure).", "result")
	m.lastReloadOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "config_last_reload_success_timestamp_seconds",
		Help: "Unix time of the last successful configuration (re)load.",
	})
	m.reg.MustRegister(m.lastReloadOK)
}
