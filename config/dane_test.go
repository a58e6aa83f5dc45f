package config

import (
	"strings"
	"testing"
)

// check-config refuses dane = true without a validating resolver: DANE
// believes the AD bit, and only of a resolver the admin named for it.
func TestTLSPolicyMapDANE(t *testing.T) {
	for _, tt := range []struct{ name, text, want string }{
		{"dane without resolver", "[tls_policy_map]\nenabled = true\n\ndane = true\n", "f.toml:4: tls_policy_map.dane"},
		{"bad resolver", "[tls_policy_map]\ndane = true\ndnssec_nameservers = [\"localhost\"]\n", "f.toml:3: tls_policy_map.dnssec_nameservers"},
		{"bad timeout", "[tls_policy_map]\ndnssec_timeout = \"0s\"\n", "f.toml:2: tls_policy_map.dnssec_timeout"},
		{"good", "[tls_policy_map]\nenabled = true\ndane = true\ndnssec_nameservers = [\"127.0.0.1:53\", \"[::1]:53\"]\n", ""},
		{"default off", "[tls_policy_map]\nenabled = true\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("f.toml", []byte(tt.text))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if cfg.TLSPolicyMap.DNSSECTimeout.Duration <= 0 {
					t.Error("no default dnssec_timeout")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
