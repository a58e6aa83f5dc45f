package config

import (
	"strings"
	"testing"
	"time"
)

// The greylist store's breaker settings: defaults, accepted values, and
// bad values named with file and line.
func TestGreylistRedisBreaker(t *testing.T) {
	tests := []struct {
		name, text string
		failures   int
		open       time.Duration
		wantErr    string
	}{
		{"defaults", "", 5, 2 * time.Second, ""},
		{"set", "breaker_failures = 3\nbreaker_open = \"500ms\"\n", 3, 500 * time.Millisecond, ""},
		{"no failures", "breaker_failures = 0\n", 0, 0, "f.toml:3: greylist.redis.breaker_failures: 0 is not between 1 and 1000"},
		{"open too short", "breaker_open = \"10ms\"\n", 0, 0, "f.toml:3: greylist.redis.breaker_open: 10ms is not between 100ms and 5m"},
		{"open too long", "breaker_open = \"1h\"\n", 0, 0, "f.toml:3: greylist.redis.breaker_open: 1h0m0s is not between 100ms and 5m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("f.toml", []byte("[greylist.redis]\naddresses = [\"127.0.0.1:6379\"]\n"+tt.text))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r := cfg.Greylist.Redis; r.BreakerFailures != tt.failures || r.BreakerOpen.Duration != tt.open {
				t.Errorf("breaker_failures %d, breaker_open %v; want %d, %v", r.BreakerFailures, r.BreakerOpen.Duration, tt.failures, tt.open)
			}
		})
	}
}
