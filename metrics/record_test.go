package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

func TestSessions(t *testing.T) {
	m := New()
	m.SessionStarted()
	m.SessionStarted()
	m.SessionEnded()
	if got := testutil.ToFloat64(m.sessions); got != 2 {
		t.Errorf("sessions_total = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.sessionsActive); got != 1 {
		t.Errorf("sessions_active = %v, want 1", got)
	}
}

func TestInboundTLS(t *testing.T) {
	m := New()
	m.InboundTLS("TLSv1.3", "TLS_AES_256_GCM_SHA384")
	m.InboundTLS("TLSv1.3", "TLS_AES_256_GCM_SHA384")
	m.InboundTLS("", "")
	if got := testutil.ToFloat64(m.inboundTLS.WithLabelValues("TLSv1.3", "TLS_AES_256_GCM_SHA384")); got != 2 {
		t.Errorf("TLSv1.3 sessions = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.inboundTLS.WithLabelValues("none", "none")); got != 1 {
		t.Errorf("cleartext sessions = %v, want 1", got)
	}
}

// A client choosing ever new cipher names must not add series past the cap,
// and names seen before the cap was reached keep their own series.
func TestInboundTLSCipherCap(t *testing.T) {
	m := New()
	for i := range 1000 {
		m.InboundTLS("TLSv1.2", fmt.Sprintf("CIPHER-%d", i))
	}
	if n := testutil.CollectAndCount(m.inboundTLS); n != 64+1 {
		t.Errorf("series = %d, want 64 ciphers + other", n)
	}
	if got := testutil.ToFloat64(m.inboundTLS.WithLabelValues("TLSv1.2", "other")); got != 1000-64 {
		t.Errorf("other = %v, want %d", got, 1000-64)
	}
	m.InboundTLS("TLSv1.2", "CIPHER-3")
	if got := testutil.ToFloat64(m.inboundTLS.WithLabelValues("TLSv1.2", "CIPHER-3")); got != 2 {
		t.Errorf("CIPHER-3 = %v, want 2 (seen before the cap)", got)
	}
}

// Invalid UTF-8 would make the client library panic; over-long values
// would be free text. Both become "other".
func TestInboundTLSHostileValues(t *testing.T) {
	m := New()
	m.InboundTLS("TLSv1.2", "bad\xff")
	m.InboundTLS(strings.Repeat("v", 200), "x")
	if got := testutil.ToFloat64(m.inboundTLS.WithLabelValues("TLSv1.2", "other")); got != 1 {
		t.Errorf("invalid UTF-8 cipher: other = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.inboundTLS.WithLabelValues("other", "x")); got != 1 {
		t.Errorf("long version: other = %v, want 1", got)
	}
}

func TestCounters(t *testing.T) {
	m := New()
	m.Transaction("inbound")
	m.Transaction("inbound")
	m.Transaction("outbound")
	m.Reply("rcpt", "dnsbl", 554)
	m.Reply("eom", "dmarc", 550)
	m.Reply("eom", "dmarc", 550)
	m.CheckResult("spf", "pass")
	m.Greylist("new")
	m.StoreError("ldap")
	for _, c := range []struct {
		name string
		c    prometheus.Collector
		want float64
	}{
		{"inbound", m.transactions.WithLabelValues("inbound"), 2},
		{"outbound", m.transactions.WithLabelValues("outbound"), 1},
		{"rcpt/dnsbl/554", m.replies.WithLabelValues("rcpt", "dnsbl", "554"), 1},
		{"eom/dmarc/550", m.replies.WithLabelValues("eom", "dmarc", "550"), 2},
		{"spf/pass", m.checkResults.WithLabelValues("spf", "pass"), 1},
		{"greylist new", m.greylist.WithLabelValues("new"), 1},
		{"ldap errors", m.storeErrors.WithLabelValues("ldap"), 1},
	} {
		if got := testutil.ToFloat64(c.c); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCheckDuration(t *testing.T) {
	m := New()
	m.CheckDuration("spf", 3*time.Millisecond)
	m.CheckDuration("spf", 7*time.Millisecond)
	m.CheckDuration("dkim", 50*time.Microsecond)
	if n := testutil.CollectAndCount(m.checkDuration); n != 2 {
		t.Errorf("series = %d, want 2 (spf, dkim)", n)
	}
	h := histogram(t, m, "spamgate_check_duration_seconds", "spf")
	if h.GetSampleCount() != 2 || h.GetSampleSum() < 0.0099 || h.GetSampleSum() > 0.0101 {
		t.Errorf("spf: count %d sum %v, want 2 and 0.010", h.GetSampleCount(), h.GetSampleSum())
	}
	b := h.GetBucket()
	if first, last := b[0].GetUpperBound(), b[len(b)-1].GetUpperBound(); first != 0.0001 || last < 9.99 || last > 10.01 {
		t.Errorf("buckets %v..%v, want 100µs..10s", first, last)
	}
}

func TestScore(t *testing.T) {
	m := New()
	m.Score(-1.5)
	m.Score(7.25)
	const want = `
# HELP spamgate_spam_score Spam score of scored messages.
# TYPE spamgate_spam_score histogram
spamgate_spam_score_bucket{le="-5"} 0
spamgate_spam_score_bucket{le="-2"} 0
spamgate_spam_score_bucket{le="0"} 1
spamgate_spam_score_bucket{le="1"} 1
spamgate_spam_score_bucket{le="2"} 1
spamgate_spam_score_bucket{le="3"} 1
spamgate_spam_score_bucket{le="4"} 1
spamgate_spam_score_bucket{le="5"} 1
spamgate_spam_score_bucket{le="6"} 1
spamgate_spam_score_bucket{le="8"} 2
spamgate_spam_score_bucket{le="10"} 2
spamgate_spam_score_bucket{le="15"} 2
spamgate_spam_score_bucket{le="20"} 2
spamgate_spam_score_bucket{le="+Inf"} 2
spamgate_spam_score_sum 5.75
spamgate_spam_score_count 2
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "spamgate_spam_score"); err != nil {
		t.Error(err)
	}
}

func TestConfigReload(t *testing.T) {
	m := New()
	before := float64(time.Now().Unix())
	m.ConfigReload(true)
	first := testutil.ToFloat64(m.lastReloadOK)
	if first < before || first > before+5 {
		t.Errorf("last success = %v, want about %v", first, before)
	}
	m.ConfigReload(false)
	m.ConfigReload(false)
	if got := testutil.ToFloat64(m.lastReloadOK); got != first {
		t.Errorf("a failed reload moved the success timestamp: %v → %v", first, got)
	}
	if got := testutil.ToFloat64(m.reloads.WithLabelValues("failure")); got != 2 {
		t.Errorf("failures = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.reloads.WithLabelValues("success")); got != 1 {
		t.Errorf("successes = %v, want 1", got)
	}
}

// Every method on a nil Metrics is a no-op, so the engine can run without.
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.SessionStarted()
	m.SessionEnded()
	m.InboundTLS("TLSv1.3", "x")
	m.Transaction("inbound")
	m.Reply("rcpt", "dnsbl", 554)
	m.CheckResult("spf", "pass")
	m.CheckDuration("spf", time.Second)
	m.Greylist("new")
	m.StoreError("ldap")
	m.Score(3)
	m.ConfigReload(true)
	m.RegisterDNS(func() DNSStats { return DNSStats{} })
	if m.Registry() != nil {
		t.Error("nil Metrics has a registry")
	}
}

// Independent instances never share a registry: no duplicate-registration
// panics, no counts leaking between them.
func TestInstancesIndependent(t *testing.T) {
	a, b := New(), New()
	a.SessionStarted()
	if got := testutil.ToFloat64(b.sessions); got != 0 {
		t.Errorf("second instance counts %v sessions of the first", got)
	}
}

// histogram finds the histogram NAME{check=CHECK} in m's registry.
func histogram(t *testing.T, m *Metrics, name, check string) *dto.Histogram {
	t.Helper()
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "check" && l.GetValue() == check {
					return mt.GetHistogram()
				}
			}
		}
	}
	t.Fatalf("no %s{check=%q}", name, check)
	return nil
}
