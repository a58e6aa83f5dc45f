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
)

// shutdownTimeout bounds the graceful stop: scrapes are short, and a stuck
// client must not hold up the daemon's exit.
const shutdownTimeout = 5 * time.Second

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
	srv := &http.Server{
		Handler:           m.Handler(health),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("metrics listening", "addr", ln.Addr().String())
	go runServer(ctx, srv, ln, log)
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
