package redisconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// Only what no retry cures stops a start; outages never do.
func TestMisconfigured(t *testing.T) {
	withCA := Options{TLS: true, TLSCAFile: "/etc/spamgate/ca.pem"}
	tests := []struct {
		name string
		err  error
		o    Options
		want string // "" : not a misconfiguration
	}{
		{"nil", nil, withCA, ""},
		{"refused", fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED), withCA, ""},
		{"timeout", fmt.Errorf("PING: %w", context.DeadlineExceeded), withCA, ""},
		{"unknown CA", fmt.Errorf("dial: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), withCA,
			"not signed by a CA in /etc/spamgate/ca.pem (tls_ca_file)"},
		{"unknown CA, system pool", x509.UnknownAuthorityError{}, Options{TLS: true}, "not signed by a CA in the system's CAs"},
		{"other host", &tls.CertificateVerificationError{Err: x509.HostnameError{Certificate: &x509.Certificate{}, Host: "10.0.0.1"}}, withCA,
			"not valid for the address dialed"},
		{"expired", x509.CertificateInvalidError{Reason: x509.Expired}, withCA, "does not verify against /etc/spamgate/ca.pem"},
		{"plain-text answer", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, withCA, "does not speak TLS"},
		{"handshake refused", fmt.Errorf("x: %w", tls.AlertError(116)), withCA, "refused the handshake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Misconfigured(tt.err, tt.o)
			switch {
			case tt.want == "" && got != nil:
				t.Errorf("Misconfigured = %v, want nil", got)
			case tt.want != "" && (got == nil || !strings.Contains(got.Error(), tt.want)):
				t.Errorf("Misconfigured = %v, want %q", got, tt.want)
			case got != nil && !errors.Is(got, tt.err):
				t.Errorf("Misconfigured = %v does not wrap %v", got, tt.err)
			}
		})
	}
}
