package metrics

import (
	"strconv"
	"time"
)

// SessionStarted counts a new SMTP session and marks it active.
func (m *Metrics) SessionStarted() {
	if m == nil {
		return
	}
	m.sessions.Inc()
	m.sessionsActive.Inc()
}

// SessionEnded marks a session started with SessionStarted as finished.
func (m *Metrics) SessionEnded() {
	if m == nil {
		return
	}
	m.sessionsActive.Dec()
}

// InboundTLS counts an inbound session by TLS version and cipher; an empty
// version ("none") is a cleartext session. Both values come from the
// client's handshake, so they go through the per-Metrics caps.
func (m *Metrics) InboundTLS(version, cipher string) {
	if m == nil {
		return
	}
	m.inboundTLS.WithLabelValues(m.tlsVersions.value(version), m.tlsCiphers.value(cipher)).Inc()
}

// Transaction counts a mail transaction; direction is "inbound" or "outbound".
func (m *Metrics) Transaction(direction string) {
	if m == nil {
		return
	}
	m.transactions.WithLabelValues(direction).Inc()
}

// Reply counts a decision sent to Postfix: stage "rcpt" or "eom", the check
// that decided (e.g. "dnsbl", "dmarc", "policy", "accept") and the SMTP code.
func (m *Metrics) Reply(stage, check string, code int) {
	if m == nil {
		return
	}
	m.replies.WithLabelValues(stage, check, strconv.Itoa(code)).Inc()
}

// CheckResult counts one result of one check, e.g. ("spf", "pass").
func (m *Metrics) CheckResult(check, result string) {
	if m == nil {
		return
	}
	m.checkResults.WithLabelValues(check, result).Inc()
}

// CheckDuration records how long one check took.
func (m *Metrics) CheckDuration(check string, d time.Duration) {
	if m == nil {
		return
	}
	m.checkDuration.WithLabelValues(check).Observe(d.Seconds())
}

// Greylist counts a greylisting outcome: new, early, pass, awl, whitelist,
// exempt, skipped or error.
func (m *Metrics) Greylist(outcome string) {
	if m == nil {
		return
	}
	m.greylist.WithLabelValues(outcome).Inc()
}

// StoreError counts a failed call to a backing store: greylist, policy,
// ldap or spamd.
func (m *Metrics) StoreError(store string) {
	if m == nil {
		return
	}
	m.storeErrors.WithLabelValues(store).Inc()
}

// Score records the spam score of a scored message.
func (m *Metrics) Score(points float64) {
	if m == nil {
		return
	}
	m.score.Observe(points)
}

// ConfigReload counts a configuration (re)load. Call it for the load at
// start too, so the success timestamp is set from the beginning.
func (m *Metrics) ConfigReload(ok bool) {
	if m == nil {
		return
	}
	if !ok {
		m.reloads.WithLabelValues("failure").Inc()
		return
	}
	m.reloads.WithLabelValues("success").Inc()
	m.lastReloadOK.SetToCurrentTime()
}
