package daemon

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"spamgate/internal/miltertest"
	"spamgate/internal/redistest"
)

// httpGet returns the status and body of GET url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// sample returns the value of the sample whose line starts with series
// (name and labels exactly as exposed), or "" when there is none.
func sample(body, series string) string {
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// startMetricsRig starts a daemon serving metrics on a free loopback port
// and returns it with the metrics server's base URL.
func startMetricsRig(t *testing.T, greylist, extra string) (*rig, string) {
	t.Helper()
	port := redistest.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	r := startRigWith(t, greylist, fmt.Sprintf("\n[metrics]\nlisten = \"inet:127.0.0.1:%d\"\n%s", port, extra))
	return r, base
}

func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	r, base := startMetricsRig(t, "[greylist]\nmode = \"suspicious\"\ndelay = \"1s\"\n", "")

	refused := r.run(t, miltertest.Tx{ClientIP: "192.0.2.99", From: "user@good.test", Rcpts: []string{"a@example.net"}})
	if got := refused.Refused("a@example.net"); !strings.HasPrefix(got, "554 ") {
		t.Fatalf("listed client: %q", got)
	}
	accepted := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"b@example.net"}})
	if got := accepted.Refused("b@example.net"); got != "" {
		t.Fatalf("clean client: %q", got)
	}
	greylisted := r.run(t, miltertest.Tx{ClientIP: "192.0.2.20", From: "user@good.test", Rcpts: []string{"c@example.net"}})
	if got := greylisted.Refused("c@example.net"); !strings.HasPrefix(got, "451 4.7.1 ") {
		t.Fatalf("suspicious client: %q", got)
	}

	code, body := httpGet(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: status %d\n%s", code, body)
	}
	for series, want := range map[string]string{
		"spamgate_sessions_total": "3",
		`spamgate_replies_total{check="dnsbl",code="554",stage="rcpt"}`:    "1",
		`spamgate_replies_total{check="greylist",code="451",stage="rcpt"}`: "1",
		`spamgate_greylist_total{outcome="new"}`:                           "1",
		`spamgate_greylist_total{outcome="skipped"}`:                       "1",
		`spamgate_transactions_total{direction="inbound"}`:                 "",
		"spamgate_dns_queries_total":                                       "",
		`spamgate_check_duration_seconds_count{check="spf"}`:               "",
		`spamgate_check_results_total{check="spf",result="pass"}`:          "",
	} {
		got := sample(body, series)
		switch {
		case got == "":
			t.Errorf("/metrics lacks %s", series)
		case want != "" && got != want:
			t.Errorf("%s = %s, want %s", series, got, want)
		case want == "" && (got == "0" || strings.HasPrefix(got, "-")):
			t.Errorf("%s = %s, want > 0", series, got)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", grepSpamgate(body))
	}

	code, body = httpGet(t, base+"/healthz")
	if code != http.StatusOK {
		t.Errorf("/healthz: status %d, want 200", code)
	}
	if body != "dns: ok\ngreylist: ok\n" {
		t.Errorf("/healthz body %q", body)
	}
}

// With the greylist store down and its breaker open, /healthz says 503
// and names only the failing component.
func TestMetricsHealthzStoreDown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r, base := startMetricsRig(t, greylistTable("suspicious", "redis", srv.Addr(), ""), "")
	if code, body := httpGet(t, base+"/healthz"); code != http.StatusOK || body != "dns: ok\ngreylist: ok\n" {
		t.Errorf("/healthz with Redis up: %d %q", code, body)
	}
	srv.Kill()
	for i := range 5 { // the breaker opens after 5 consecutive failures
		rcpt := fmt.Sprintf("r%d@example.net", i)
		if got := r.run(t, suspiciousTx(rcpt)).Refused(rcpt); got != "" {
			t.Errorf("on_store_error = accept: %q", got)
		}
	}
	code, body := httpGet(t, base+"/healthz")
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "greylist: ") || strings.Contains(body, "dns:") {
		t.Errorf("/healthz with Redis down: %d %q", code, body)
	}
	_, body = httpGet(t, base+"/metrics")
	if got := sample(body, `spamgate_store_errors_total{store="greylist"}`); got != "5" {
		t.Errorf(`spamgate_store_errors_total{store="greylist"} = %q, want 5`, got)
	}
	if got := sample(body, `spamgate_greylist_total{outcome="error"}`); got != "5" {
		t.Errorf(`spamgate_greylist_total{outcome="error"} = %q, want 5`, got)
	}
}

func grepSpamgate(body string) string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "spamgate_") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
