package redistest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"spamgate/internal/testcert"
)

// TLSServer is a redis-server that speaks only TLS (port 0, tls-port
// set), with a throwaway certificate for 127.0.0.1 that is its own CA.
type TLSServer struct {
	*Server
	CAFile string // PEM: the CA a client verifies the server with
}

// StartTLS starts a TLS-only redis-server. Client certificates are
// optional (tls-auth-clients optional): clients without one connect, as
// spamgate does by default.
func StartTLS(t testing.TB) *TLSServer {
	t.Helper()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "redis.crt"), filepath.Join(dir, "redis.key")
	if err := testcert.WriteSelfSigned(cert, key, "localhost"); err != nil {
		t.Fatalf("redis TLS certificate: %v", err)
	}
	s := startReady(t, dir, func(dir string, port int) []string {
		return []string{Binary,
			"--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", cert,
			"--tls-auth-clients", "optional",
			"--save", "", "--appendonly", "no", "--dir", dir,
		}
	}, tlsPing)
	return &TLSServer{Server: s, CAFile: cert}
}

// tlsPing is ping over TLS, without verifying: readiness only.
func tlsPing(addr string) error {
	d := &net.Dialer{Timeout: 100 * time.Millisecond}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness probe of a test server
	if err != nil {
		return err
	}
	return pingOn(c)
}

// Client is a client for test data, verifying the server with CAFile.
func (s *TLSServer) Client() *redis.Client {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		s.t.Fatalf("read %s: %v", s.CAFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		s.t.Fatalf("%s: no certificate", s.CAFile)
	}
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1,
		TLSConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// WrongCA writes a CA file that did not sign the server's certificate:
// another self-signed certificate for the same names.
func WrongCA(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	cert := filepath.Join(dir, "other-ca.crt")
	if err := testcert.WriteSelfSigned(cert, filepath.Join(dir, "other-ca.key"), "localhost"); err != nil {
		t.Fatalf("%v", fmt.Errorf("wrong CA: %w", err))
	}
	return cert
}
