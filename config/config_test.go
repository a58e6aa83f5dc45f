package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseValid(t *testing.T) {
	cfg, err := Parse("spamgate.toml", []byte(`
[milter]
listen = "unix:/run/spamgate/milter.sock"
authserv_id = "mx.example.org"
internal_networks = ["192.0.2.0/24", "2001:db8::1"]

[dns]
nameservers = ["127.0.0.1:5353", "[::1]:53"]
timeout = "1500ms"

[dnsbl]
threshold = 3
[[dnsbl.zone]]
name = "zen.example"
weight = 3
codes = ["127.0.0.2-127.0.0.11"]
[[dnsbl.zone]]
name = "bl.example"
weight = 1

[spf]
reject_fail = true
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DNS.Timeout.Duration != 1500*time.Millisecond || len(cfg.DNSBL.Zones) != 2 || !cfg.SPF.RejectFail {
		t.Errorf("decoded %+v", cfg)
	}
	if !cfg.SenderDomain.Enabled || cfg.Milter.CheckTimeout.Duration != 20*time.Second {
		t.Errorf("defaults lost: %+v", cfg)
	}
}

func TestParseErrorsNameLineAndKey(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"unknown key", "[dnsbl]\nenabled = true\ntreshold = 3\n", "f.toml:3: dnsbl.treshold: unknown key"},
		{"unknown table", "[dnsbll]\nx = 1\n", "f.toml:1: dnsbll: unknown key"},
		{"syntax", "[milter]\nlisten = \n", "f.toml:2"},
		{"type", "[spf]\nenabled = \"yes\"\n", "f.toml:2: spf.enabled"},
		{"bad duration", "[dns]\ntimeout = \"soon\"\n", "f.toml:2: dns.timeout"},
		{"bad listen", "[milter]\n\nlisten = \"tcp:1.2.3.4\"\n", "f.toml:3: milter.listen"},
		{"bad nameserver", "[dns]\nnameservers = [\"localhost\"]\n", "f.toml:2: dns.nameservers"},
		{"dns cache_bytes", "[dns]\ncache_bytes = 1000\n", "f.toml:2: dns.cache_bytes"},
		{"dns answer over budget/16", "[dns]\ncache_bytes = 1048576\n\ncache_max_answer_bytes = 131072\n", "f.toml:4: dns.cache_max_answer_bytes"},
		{"dns max_inflight", "[dns]\nmax_inflight = 0\n", "f.toml:2: dns.max_inflight"},
		{"dns session over process", "[dns]\nmax_inflight = 8\nmax_inflight_session = 9\n", "f.toml:3: dns.max_inflight_session"},
		{"bad network", "[milter]\ninternal_networks = [\"10.0.0.0/33\"]\n", "f.toml:2: milter.internal_networks"},
		{"second zone bad", "[dnsbl]\n[[dnsbl.zone]]\nname = \"a.example\"\nweight = 1\n[[dnsbl.zone]]\nname = \"\"\nweight = 1\n", "f.toml:6: dnsbl.zone[2].name"},
		{"duplicate zone", "[dnsbl]\n[[dnsbl.zone]]\nname = \"a.example\"\n[[dnsbl.zone]]\nname = \"A.example.\"\n", "f.toml:5: dnsbl.zone[2].name"},
		{"socket mode", "[milter]\nsocket_mode = \"rw\"\n", "f.toml:2: milter.socket_mode"},
		{"authserv id", "[milter]\nauthserv_id = \"mx example\"\n", "f.toml:2: milter.authserv_id"},
		{"negotiate_timeout", "[milter]\nnegotiate_timeout = \"0s\"\n", "f.toml:2: milter.negotiate_timeout"},
		{"max_unnegotiated", "[milter]\nmax_unnegotiated = 0\n", "f.toml:2: milter.max_unnegotiated"},
		{"per peer over max_sessions", "[milter]\nmax_sessions = 10\nmax_sessions_per_peer = 11\n", "f.toml:3: milter.max_sessions_per_peer"},
		{"greylist max_entries", "[greylist]\nmax_entries = 10\n", "f.toml:2: greylist.max_entries"},
		{"greylist max_whitelist", "[greylist]\n\nmax_whitelist = -1\n", "f.toml:3: greylist.max_whitelist"},
		{"greylist save_interval", "[greylist]\nsave_interval = \"1s\"\n", "f.toml:2: greylist.save_interval"},
		{"dmarc history_days", "[dmarc]\nhistory_days = -1\n", "f.toml:2: dmarc.history_days"},
		{"tls_policy_map max_connections", "[tls_policy_map]\nenabled = true\n\nmax_connections = 0\n", "f.toml:4: tls_policy_map.max_connections"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tt.text))
			if err == nil {
				t.Fatal("no error")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not config.Errors", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseListen(t *testing.T) {
	tests := []struct{ in, network, address string }{
		{"inet:127.0.0.1:8891", "tcp", "127.0.0.1:8891"},
		{"inet:[::1]:8891", "tcp", "[::1]:8891"},
		{"inet:localhost:0", "tcp", "localhost:0"},
		{"unix:/run/spamgate/milter.sock", "unix", "/run/spamgate/milter.sock"},
	}
	for _, tt := range tests {
		n, a, err := ParseListen(tt.in)
		if err != nil || n != tt.network || a != tt.address {
			t.Errorf("ParseListen(%q) = %q, %q, %v", tt.in, n, a, err)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:8891", "inet:127.0.0.1", "inet:1.2.3.4:99999", "unix:", "tcp:1.2.3.4:1"} {
		if _, _, err := ParseListen(bad); err == nil {
			t.Errorf("ParseListen(%q): no error", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("[milter]\nlisten = \"inet:127.0.0.1:8891\"\n[[dnsbl.zone]]\nname=\"x\"\n"))
	f.Add([]byte("[dnsbl]\ntreshold = 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Parse("fuzz.toml", b) // must not panic
	})
}

// Credentials written where they do not belong are refused without being
// echoed: configuration errors end up in logs. Misspelt secret keys and
// values of the wrong type do not echo the value either.
func TestErrorsNeverEchoSecrets(t *testing.T) {
	const secret = "s3cret-Pw-4711"
	tests := []struct{ name, text, want string }{
		{"redis address with a password", "[greylist]\nstore = \"redis\"\n[greylist.redis]\naddresses = [\"default:" + secret + "@127.0.0.1:6379\"]\n",
			"f.toml:4: greylist.redis.addresses: entry 1 holds credentials"},
		{"policy redis URL", "[policy.redis]\naddresses = [\"redis://:" + secret + "@127.0.0.1:6379\"]\n",
			"f.toml:2: policy.redis.addresses: entry 1 holds credentials"},
		{"ldap URL with a password", "[recipients]\ndomains = [\"example.org\"]\n[recipients.ldap]\nurl = \"ldap://cn=admin:" + secret + "@127.0.0.1\"\nbase_dn = \"dc=example\"\n",
			"f.toml:4: recipients.ldap.url: is not ldap://"},
		{"unknown password key", "[recipients.ldap]\npassword = \"" + secret + "\"\n", "f.toml:2: recipients.ldap.password: unknown key"},
		{"password as a number", "[recipients.ldap]\npassword_file = 4711\n", "f.toml:2: recipients.ldap.password_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "4711") {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// Out of the box nothing listens beyond loopback: the milter and the TLS
// policy map on 127.0.0.1, metrics not at all.
func TestDefaultsListenOnLoopbackOnly(t *testing.T) {
	cfg := Default()
	for key, listen := range map[string]string{"milter.listen": cfg.Milter.Listen, "tls_policy_map.listen": cfg.TLSPolicyMap.Listen} {
		network, addr, err := ParseListen(listen)
		if err != nil || network != "tcp" || !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Errorf("%s = %q (%s %s %v), want loopback", key, listen, network, addr, err)
		}
	}
	if cfg.Metrics.Listen != "" {
		t.Errorf("metrics.listen = %q by default, want off", cfg.Metrics.Listen)
	}
}
