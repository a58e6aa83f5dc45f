package config

import (
	"strings"
	"testing"
)

// TestAdminHistoryRedis: [admin.history_redis] is validated like the
// other Redis tables, and each bad value names its key and line.
func TestAdminHistoryRedis(t *testing.T) {
	for _, tt := range []struct {
		name, text, want string
	}{
		{"redis without addresses", "[admin]\nhistory_store = \"redis\"\n", "admin.history_redis.addresses"},
		{"two addresses, no mode", "[admin]\nhistory_store = \"redis\"\n[admin.history_redis]\naddresses = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n", "cluster = true"},
		{"credentials in the address", "[admin.history_redis]\naddresses = [\"u:p@127.0.0.1:1\"]\n", "password_file"},
		{"empty prefix", "[admin.history_redis]\nkey_prefix = \"\"\n", "admin.history_redis.key_prefix"},
		{"zero timeout", "[admin.history_redis]\ntimeout = \"0s\"\n", "admin.history_redis.timeout"},
		{"ca without tls", "[admin.history_redis]\ntls_ca_file = \"/x\"\n", "tls_ca_file"},
		{"bad store", "[admin]\nhistory_store = \"sql\"\n", "admin.history_store"},
		{"ok", "[admin]\nhistory_store = \"redis\"\n[admin.history_redis]\naddresses = [\"127.0.0.1:6379\"]\n", ""},
		{"off needs nothing", "[admin]\nhistory_store = \"off\"\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("h.toml", []byte(tt.text))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if cfg.Admin.HistoryRedis.KeyPrefix != "spamgate:history:" {
					t.Errorf("default key_prefix %q", cfg.Admin.HistoryRedis.KeyPrefix)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "h.toml") {
				t.Fatalf("error %v, want one naming h.toml and %q", err, tt.want)
			}
		})
	}
}
