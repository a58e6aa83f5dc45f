package policy

import "testing"

func TestCheckTLS(t *testing.T) {
	required := Settings{RequireTLS: ptr(true)}
	v13 := Settings{RequireTLS: ptr(true), MinTLSVersion: "TLSv1.3"}
	bits := Settings{RequireTLS: ptr(true), MinCipherBits: 256}
	tests := []struct {
		name   string
		s      Settings
		t      TLSFacts
		ok     bool
		reason string
	}{
		{"not required, cleartext", Settings{}, TLSFacts{}, true, "TLS not required"},
		{"required=no, cleartext", Settings{RequireTLS: ptr(false)}, TLSFacts{}, true, "TLS not required"},
		{"minimum without require_tls is ignored", Settings{MinTLSVersion: "TLSv1.3", MinCipherBits: 256}, TLSFacts{Version: "TLSv1", Bits: 128}, true, "TLS not required"},
		{"required, cleartext", required, TLSFacts{}, false, "accepts mail only over TLS"},
		{"required, TLSv1", required, TLSFacts{Version: "TLSv1", Bits: 128}, true, "TLSv1 with a 128-bit cipher meets the requirement"},
		{"required, no bits known", required, TLSFacts{Version: "TLSv1.2"}, true, "TLSv1.2 meets the requirement"},
		{"1.3 wanted, cleartext", v13, TLSFacts{}, false, "accepts mail only over TLSv1.3 or better"},
		{"1.3 wanted, 1.2 given", v13, TLSFacts{Version: "TLSv1.2", Bits: 256}, false, "accepts mail only over TLSv1.3 or better"},
		{"1.3 wanted, 1.3 given", v13, TLSFacts{Version: "TLSv1.3", Cipher: "TLS_AES_256_GCM_SHA384", Bits: 256}, true, "TLSv1.3 with a 256-bit cipher meets the requirement"},
		{"1.3 wanted, future 1.4", v13, TLSFacts{Version: "TLSv1.4", Bits: 256}, true, "TLSv1.4 with a 256-bit cipher meets the requirement"},
		{"1.2 wanted, SSLv3", Settings{RequireTLS: ptr(true), MinTLSVersion: "TLSv1.2"}, TLSFacts{Version: "SSLv3"}, false, "accepts mail only over TLSv1.2 or better"},
		{"1.0 wanted, 1.1 given", Settings{RequireTLS: ptr(true), MinTLSVersion: "TLSv1"}, TLSFacts{Version: "TLSv1.1"}, true, "TLSv1.1 meets the requirement"},
		{"unknown version fails a minimum", v13, TLSFacts{Version: "unknown", Bits: 256}, false, "accepts mail only over TLSv1.3 or better"},
		{"unknown version, no minimum", required, TLSFacts{Version: "unknown"}, true, "unknown meets the requirement"},
		{"256 wanted, 128 given", bits, TLSFacts{Version: "TLSv1.3", Bits: 128}, false, "requires a cipher of at least 256 bits"},
		{"256 wanted, 256 given", bits, TLSFacts{Version: "TLSv1.3", Bits: 256}, true, "TLSv1.3 with a 256-bit cipher meets the requirement"},
		{"256 wanted, bits unknown", bits, TLSFacts{Version: "TLSv1.3"}, false, "requires a cipher of at least 256 bits"},
		{"version checked before bits", Settings{RequireTLS: ptr(true), MinTLSVersion: "TLSv1.3", MinCipherBits: 256}, TLSFacts{Version: "TLSv1.2", Bits: 128}, false, "accepts mail only over TLSv1.3 or better"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason := tt.s.CheckTLS(tt.t)
			if ok != tt.ok || reason != tt.reason {
				t.Errorf("CheckTLS(%+v) = %v, %q; want %v, %q", tt.t, ok, reason, tt.ok, tt.reason)
			}
		})
	}
}

func TestTLSVersionRank(t *testing.T) {
	order := []string{"SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "TLSv1.10", "TLSv2"}
	for i := 1; i < len(order); i++ {
		if tlsVersionRank(order[i-1]) >= tlsVersionRank(order[i]) {
			t.Errorf("%s does not rank below %s", order[i-1], order[i])
		}
	}
	for _, v := range []string{"", "TLS", "TLSv", "TLSv1.", "TLSv1.x", "TLSv-1", "tlsv1.2", "DTLSv1.2", "SSLv", "TLSv1.2.3", "TLSv+1.2", "TLSv1.-2", "TLSv0.9", "SSLv33"} {
		if r := tlsVersionRank(v); r != -1 {
			t.Errorf("tlsVersionRank(%q) = %d, want -1", v, r)
		}
	}
}

func TestOutboundPolicy(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		want string
	}{
		{"nothing set: NOTFOUND", Settings{}, ""},
		{"TLS not required", Settings{RequireTLS: ptr(false), MinTLSVersion: "TLSv1.2"}, ""},
		{"required", Settings{RequireTLS: ptr(true)}, "encrypt"},
		{"required, TLSv1.2", Settings{RequireTLS: ptr(true), MinTLSVersion: "TLSv1.2"}, "encrypt protocols=>=TLSv1.2"},
		{"required, TLSv1.3", Settings{RequireTLS: ptr(true), MinTLSVersion: "TLSv1.3", MinCipherBits: 256}, "encrypt protocols=>=TLSv1.3"},
		{"explicit wins", Settings{RequireTLS: ptr(true), MinTLSVersion: "TLSv1.3", OutboundTLS: "secure match=.example.org"}, "secure match=.example.org"},
		{"explicit without require_tls", Settings{OutboundTLS: "dane"}, "dane"},
		{"explicit none", Settings{RequireTLS: ptr(true), OutboundTLS: "none"}, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.OutboundPolicy(); got != tt.want {
				t.Errorf("OutboundPolicy() = %q, want %q", got, tt.want)
			}
			if err := (Settings{OutboundTLS: tt.s.OutboundPolicy()}).Validate(); err != nil {
				t.Errorf("the answer is not a valid policy: %v", err)
			}
		})
	}
}
