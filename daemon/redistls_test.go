package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"spamgate/config"
	"spamgate/internal/redistest"
)

// tlsGreylist is a [greylist] table on a TLS redis-server with caFile.
func tlsGreylist(addr, caFile string) string {
	return greylistTable("suspicious", "redis", "", "") +
		fmt.Sprintf("[greylist.redis]\naddresses = [%q]\ntls = true\ntls_ca_file = %q\n", addr, caFile)
}

// Greylisting on a redis-server that speaks only TLS (tls-port, a test
// CA, client certificates optional), shared by two daemons.
func TestGreylistRedisTLS(t *testing.T) {
	t.Parallel()
	srv := redistest.StartTLS(t)
	a := startRigWith(t, tlsGreylist(srv.Addr(), srv.CAFile), "")
	b := startRigWith(t, tlsGreylist(srv.Addr(), srv.CAFile), "")
	greylistCycle(t, a, b, "tls@example.net")
}

// A wrong CA is a start-up error that names it, not a daemon that fails
// open on every message for good.
func TestGreylistRedisTLSWrongCA(t *testing.T) {
	t.Parallel()
	srv := redistest.StartTLS(t)
	wrong := redistest.WrongCA(t)
	file := filepath.Join(t.TempDir(), "spamgate.toml")
	writeConfig(t, file, baseText("127.0.0.1:53", tlsGreylist(srv.Addr(), wrong), ""))
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Start(cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)), nil)
	if err == nil {
		_ = d.Shutdown(context.Background())
		t.Fatal("the daemon started with a wrong tls_ca_file")
	}
	for _, want := range []string{srv.Addr(), "not signed by a CA in " + wrong, "tls_ca_file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("start-up error %q lacks %q", err, want)
		}
	}
}
