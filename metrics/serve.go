package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/netutil"
)

// shutdownTimeout bounds the graceful stop: scrapes are short, and a stuck
// client must not hold up the daemon's exit.
const shutdownTimeout = 5 * time.Second

// listenerLimits bound what clients of the metrics listener can hold: every
// connection is a file descriptor of the daemon, which the milter, DNS,
// Redis and LDAP need too (issue 18: idle keep-alive connections stayed
// open for ever).
type listenerLimits struct {
	// maxConns caps the connections served at once; a client over it
	// waits in the kernel's accept queue (x/net/netutil.LimitListener)
	// until one ends. A scraper and a health prober need one or two.
	maxConns int
	// readHeader, read, write and idle are http.Server's timeouts. Write
	// covers the handler too, so it is over healthTimeout.
	readHeader, read, write, idle time.Duration
	maxHeaderBytes                int
}

// defaultLimits: 32 connections, each held at most 5 s before its request
// header is in and 10 s for the request, 15 s for the answer. Keep-alive
// is off, so a connection serves one request and closes: a client cannot
// keep a slot by sending requests, and one that holds all 32 slots has to
// reconnect every few seconds, each new connection queued behind the
// prober's. The cost is one TCP handshake per scrape, on loopback.
func defaultLimits() listenerLimits {
	return listenerLimits{maxConns: 32, readHeader: 5 * time.Second, read: 10 * time.Second,
		write: healthTimeout + 10*time.Second, idle: 30 * time.Second, maxHeaderBytes: 8 << 10}
}

// newServer is the HTTP server of Serve with the limits l.
func newServer(h http.Handler, l listenerLimits, log *slog.Logger) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.readHeader,
		ReadTimeout:       l.read,
		WriteTimeout:      l.write,
		IdleTimeout:       l.idle,
		MaxHeaderBytes:    l.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.SetKeepAlivesEnabled(false)
	return srv
}

// Serve listens on addr ("HOST:PORT", or Postfix-style "inet:HOST:PORT")
// and serves Handler(health) until ctx ends, then shuts down gracefully.
// It returns once listening; the serving goes on in a goroutine, and the
// address actually bound (port 0 picks one) is logged.
func (m *Metrics) Serve(ctx context.Context, addr string, health func(ctx context.Context) map[string]error, log *slog.Logger) error {
	hostport, err := listenAddr(addr)
	if err != nil {
		return err
	}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", hostport)
	if err != nil {
		return fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := defaultLimits()
	srv := newServer(m.Handler(health), l, log)
	log.Info("metrics listening", "addr", ln.Addr().String(), "max_connections", l.maxConns)
	go runServer(ctx, srv, netutil.LimitListener(ln, l.maxConns), log)
	return nil
}

// runServer serves until ctx ends, then stops the server gracefully.
func runServer(ctx context.Context, srv *http.Server, ln net.Listener, log *slog.Logger) {
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		// Serve only returns early on a listener failure.
		log.Error("metrics server failed", "error", err)
		return
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("metrics server shutdown", "error", err)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("metrics server", "error", err)
	}
	log.Info("metrics server stopped")
}

// listenAddr turns "HOST:PORT" or "inet:HOST:PORT" into a TCP address for
// net.Listen, refusing anything else (unix sockets included) by name.
func listenAddr(addr string) (string, error) {
	if strings.HasPrefix(addr, "unix:") {
		return "", fmt.Errorf("metrics: listen address %q: unix sockets are not supported, use inet:HOST:PORT", addr)
	}
	hostport := strings.TrimPrefix(addr, "inet:")
	_, port, err := net.SplitHostPort(hostport)
	if err == nil && port == "" {
		// net.Listen would pick a random port: useless to a scraper.
		err = errors.New("missing port")
	}
	if err != nil {
		return "", fmt.Errorf("metrics: listen address %q (want HOST:PORT or inet:HOST:PORT): %w", addr, err)
	}
	return hostport, nil
}
