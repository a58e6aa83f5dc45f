package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"spamgate/metrics"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func TestHealthz(t *testing.T) {
	var status map[string]error
	srv := httptest.NewServer(metrics.New().Handler(func(ctx context.Context) map[string]error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("health check without a deadline")
		}
		return status
	}))
	defer srv.Close()

	status = map[string]error{"redis": nil, "dns": nil}
	if code, body := get(t, srv.URL+"/healthz"); code != 200 || body != "dns: ok\nredis: ok\n" {
		t.Errorf("healthy: %d %q, want 200 with an ok line per component", code, body)
	}
	status = map[string]error{
		"redis": errors.New("dial tcp 127.0.0.1:6379: connection refused"),
		"dns":   nil,
		"ldap":  errors.Join(errors.New("bind"), errors.New("timeout")),
	}
	if code, body := get(t, srv.URL+"/healthz"); code != 503 ||
		body != "ldap: bind timeout\nredis: dial tcp 127.0.0.1:6379: connection refused\n" {
		t.Errorf("unhealthy: %d %q, want 503 listing the failing components", code, body)
	}
	status = nil
	if code, body := get(t, srv.URL+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("no components: %d %q, want 200 ok", code, body)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	m := metrics.New()
	m.SessionStarted()
	m.Reply("rcpt", "dnsbl", 554)
	m.RegisterDNS(func() metrics.DNSStats { return metrics.DNSStats{Queries: 5} })
	srv := httptest.NewServer(m.Handler(nil))
	defer srv.Close()
	code, body := get(t, srv.URL+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"spamgate_sessions_total 1",
		"spamgate_sessions_active 1",
		`spamgate_replies_total{check="dnsbl",code="554",stage="rcpt"} 1`,
		"spamgate_dns_queries_total 5",
		"go_goroutines ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, _ := get(t, srv.URL+"/healthz"); code != 200 {
		t.Errorf("/healthz with nil health: %d, want 200", code)
	}
}

// A nil Metrics still answers health probes; it has no metrics to serve.
func TestNilHandler(t *testing.T) {
	var m *metrics.Metrics
	srv := httptest.NewServer(m.Handler(nil))
	defer srv.Close()
	if code, _ := get(t, srv.URL+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d, want 200", code)
	}
	if code, _ := get(t, srv.URL+"/metrics"); code != 404 {
		t.Errorf("/metrics: %d, want 404", code)
	}
}
