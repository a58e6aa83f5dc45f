package metrics

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HealthFunc reports each named component's health; a nil error is healthy.
type HealthFunc = func(ctx context.Context) map[string]error

// healthTimeout bounds one health check, so a hung store answers 503 to
// the prober instead of piling up requests.
const healthTimeout = 5 * time.Second

// Handler serves /metrics from this Metrics' registry and /healthz from
// health (nil health: always healthy). A nil Metrics serves /healthz only.
func (m *Metrics) Handler(health func(ctx context.Context) map[string]error) http.Handler {
	mux := http.NewServeMux()
	if m != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
			// A failing collector must not hide every other metric.
			ErrorHandling: promhttp.ContinueOnError,
			Registry:      m.reg,
		}))
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		serveHealth(w, r, health)
	})
	return mux
}

// serveHealth answers 200 with "NAME: ok" lines, or 503 with "NAME: ERROR"
// lines of the failing components only, sorted by name.
func serveHealth(w http.ResponseWriter, r *http.Request, health HealthFunc) {
	var status map[string]error
	if health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		status = health(ctx)
		cancel()
	}
	ok, failed := healthLines(status)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, strings.Join(failed, ""))
		return
	}
	if len(ok) == 0 {
		ok = []string{"ok\n"}
	}
	fmt.Fprint(w, strings.Join(ok, ""))
}

// healthLines splits the status into sorted healthy and failing lines.
func healthLines(status map[string]error) (ok, failed []string) {
	names := make([]string, 0, len(status))
	for name := range status {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := status[name]; err != nil {
			failed = append(failed, name+": "+oneLine(err.Error())+"\n")
		} else {
			ok = append(ok, name+": ok\n")
		}
	}
	return ok, failed
}

// oneLine keeps a multi-line error (errors.Join) on the component's line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
