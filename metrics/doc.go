// Package metrics is spamgate's Prometheus instrumentation and its HTTP
// endpoints (/metrics, /healthz).
//
// Every Metrics has its own registry, never the prometheus default one, so
// that several instances (tests, a reload that rebuilds everything) coexist
// without duplicate-registration panics. A nil *Metrics is valid: every
// method is then a no-op, and the engine runs without metrics.
//
// Label values are bounded sets chosen by spamgate's code (check names,
// stages, outcomes). Values that come from the network (TLS version and
// cipher) are capped, so a hostile client cannot grow the number of series.
// Addresses and free text never become labels.
package metrics
