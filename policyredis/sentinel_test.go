package policyredis

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"spamgate/internal/redistest"
)

// startSentinel starts a Sentinel watching master under the name name.
// Sentinel rewrites its configuration file, so it gets one of its own.
func startSentinel(t *testing.T, name string, master *redisServer) *redisServer {
	t.Helper()
	return startServer(t, func(dir string, port int) []string {
		conf := filepath.Join(dir, "sentinel.conf")
		text := "sentinel monitor " + name + " 127.0.0.1 " + strconv.Itoa(master.Port()) + " 1\n"
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatalf("write %s: %v", conf, err)
		}
		return []string{redistest.Binary, conf, "--sentinel",
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir}
	})
}

// TestLookupSentinel: with MasterName, the addresses are Sentinels, which
// tell where the master is.
func TestLookupSentinel(t *testing.T) {
	t.Parallel()
	master := startRedis(t)
	hset(t, master.Client(), DefaultKeyPrefix+"example.org", "require_tls", "yes")
	sentinel := startSentinel(t, "policy", master)

	tests := []struct {
		name, master, want string
		wantErr            []string
	}{
		{"known master", "policy", "example.org", nil},
		{"unknown master", "nosuch", "", []string{`master "nosuch" via sentinels ` + sentinel.Addr()}},
	}
	for _, tt := range tests {
		s := newSource(t, Options{Addresses: []string{sentinel.Addr()}, MasterName: tt.master})
		r, err := s.Lookup(context.Background(), "bob@example.org")
		if len(tt.wantErr) > 0 {
			wantErr(t, err, tt.wantErr...)
			continue
		}
		if err != nil || got(r) != tt.want {
			t.Errorf("%s: Lookup = %s, %v; want %s", tt.name, got(r), err, tt.want)
		}
	}
}
