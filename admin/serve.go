package admin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"spamgate/config"
)

// Limits of the console's HTTP server (docs/HOSTILE.md): a client that
// trickles its header, or sends a huge one, is cut off instead of holding
// a connection and memory.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	// WriteTimeout leaves room for an explain, which waits for the checks
	// (twice [milter] check_timeout at most, 40 s by default).
	WriteTimeout   = 90 * time.Second
	IdleTimeout    = 2 * time.Minute
	MaxHeaderBytes = 16 << 10
)

// Running is a started console.
type Running struct {
	srv    *http.Server
	ln     net.Listener
	served chan error
}

// Serve serves h on ln, over TLS when a carries tls_cert and tls_key
// (TLS 1.2 at least), with the limits above.
func Serve(ln net.Listener, h http.Handler, a config.Admin, log *slog.Logger) (*Running, error) {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if a.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(a.TLSCert, a.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("admin.tls_cert / tls_key: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	r := &Running{srv: srv, ln: ln, served: make(chan error, 1)}
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		r.served <- err
	}()
	return r, nil
}

// Addr is the address the console listens on.
func (r *Running) Addr() net.Addr { return r.ln.Addr() }

// Shutdown stops accepting, lets requests in flight finish until ctx ends,
// then closes what is left.
func (r *Running) Shutdown(ctx context.Context) error {
	err := r.srv.Shutdown(ctx)
	if err != nil {
		r.srv.Close()
	}
	if serr := <-r.served; err == nil {
		err = serr
	}
	return err
}
