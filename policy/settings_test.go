package policy

import (
	"reflect"
	"testing"
)

func TestSet(t *testing.T) {
	tests := []struct {
		name, value string
		want        Settings
		err         []string
	}{
		{"require_tls", "yes", Settings{RequireTLS: ptr(true)}, nil},
		{"require_tls", "No", Settings{RequireTLS: ptr(false)}, nil},
		{"require_tls", "true", Settings{RequireTLS: ptr(true)}, nil},
		{"require_tls", "maybe", Settings{}, []string{"require_tls", `"maybe" is not yes or no`}},
		{"min_tls_version", "TLSv1.2", Settings{MinTLSVersion: "TLSv1.2"}, nil},
		{"min_tls_version", "TLSv1.4", Settings{}, []string{`min_tls_version: "TLSv1.4" is not one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3`}},
		{"min_tls_version", "1.2", Settings{}, []string{"is not one of"}},
		{"min_cipher_bits", "256", Settings{MinCipherBits: 256}, nil},
		{"min_cipher_bits", "2048", Settings{}, []string{"min_cipher_bits", "not the certificate's"}},
		{"min_cipher_bits", "-1", Settings{}, []string{"min_cipher_bits"}},
		{"min_cipher_bits", "lots", Settings{}, []string{`"lots" is not a whole number`}},
		{"tls_reply", "450", Settings{TLSReply: 450}, nil},
		{"tls_reply", "421", Settings{}, []string{"tls_reply: 421 is not 550"}},
		{"reply_text", "Encrypt, please", Settings{ReplyText: "Encrypt, please"}, nil},
		{"reply_text", "bad\r\n250 OK", Settings{}, []string{"reply_text", "printable ASCII"}},
		{"reply_text", "grüße", Settings{}, []string{"printable ASCII"}},
		{"outbound_tls", "secure match=.example.org", Settings{OutboundTLS: "secure match=.example.org"}, nil},
		{"outbound_tls", "always", Settings{}, []string{"outbound_tls", `"always" is not a Postfix TLS security level`}},
		{"skip", "yes", Settings{Skip: ptr(true)}, nil},
		{"dnsbl_threshold", "2.5", Settings{DNSBLThreshold: ptr(2.5)}, nil},
		{"dnsbl_threshold", "0", Settings{}, []string{"dnsbl_threshold: 0 must be above 0"}},
		{"dnsbl_threshold", "NaN", Settings{}, []string{"not a finite number"}},
		{"spf_reject_fail", "no", Settings{SPFRejectFail: ptr(false)}, nil},
		{"greylist", "never", Settings{Greylist: "never"}, nil},
		{"greylist", "sometimes", Settings{}, []string{`greylist: "sometimes" is not one of suspicious, always, never`}},
		{"dmarc_enforce", "yes", Settings{DMARCEnforce: ptr(true)}, nil},
		{"tag_level", "-1.5", Settings{TagLevel: ptr(-1.5)}, nil},
		{"kill_level", "Inf", Settings{}, []string{"kill_level", "finite"}},
		{"kill_level", "1e999", Settings{}, []string{"kill_level", "finite"}},
		{"kill_level", "high", Settings{}, []string{`"high" is not a number`}},
		{"treshold", "5", Settings{}, []string{`unknown setting "treshold"`, "dnsbl_threshold"}},
		{"sender", "a.example", Settings{}, []string{`unknown setting "sender"`}},
		{"require_tls", "", Settings{}, []string{"require_tls: empty value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			var s Settings
			err := s.Set(tt.name, tt.value)
			wantErr(t, err, tt.err...)
			if !reflect.DeepEqual(s, tt.want) {
				t.Errorf("got %+v, want %+v", s, tt.want)
			}
		})
	}
}

func TestSetKeepsOldValueOnError(t *testing.T) {
	s := Settings{MinTLSVersion: "TLSv1.2"}
	if err := s.Set("min_tls_version", "TLSv9"); err == nil {
		t.Fatal("no error")
	}
	if s.MinTLSVersion != "TLSv1.2" {
		t.Errorf("a refused value changed the setting to %q", s.MinTLSVersion)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		err  []string
	}{
		{"zero", Settings{}, nil},
		{"all valid", Settings{RequireTLS: ptr(true), MinTLSVersion: "TLSv1.3", MinCipherBits: 128, TLSReply: 550,
			ReplyText: "x", OutboundTLS: "dane-only", Greylist: "always", DNSBLThreshold: ptr(3.0), TagLevel: ptr(5.0), KillLevel: ptr(10.0)}, nil},
		{"several errors", Settings{MinTLSVersion: "SSLv3", TLSReply: 250, Greylist: "yes"},
			[]string{"min_tls_version", "tls_reply", "greylist"}},
		{"tag above kill", Settings{TagLevel: ptr(9.0), KillLevel: ptr(5.0)}, []string{"tag_level 9 is above kill_level 5"}},
		{"outbound none with attributes", Settings{OutboundTLS: "none protocols=>=TLSv1.2"}, []string{`security level "none" takes no attributes`}},
		{"outbound match at encrypt", Settings{OutboundTLS: "encrypt match=nexthop"}, []string{`attribute "match" is not valid at security level "encrypt"`}},
		{"outbound not name=value", Settings{OutboundTLS: "secure nexthop"}, []string{`"nexthop" is not a name=value attribute`}},
		{"outbound empty attribute", Settings{OutboundTLS: "verify match="}, []string{`attribute "match" has an empty value`}},
		{"outbound newline", Settings{OutboundTLS: "encrypt\nOK"}, []string{"printable ASCII"}},
		{"outbound braces", Settings{OutboundTLS: "secure { match = x }"}, []string{"braces"}},
		{"reply text too long", Settings{ReplyText: string(make([]byte, 201))}, []string{"201 characters"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, tt.s.Validate(), tt.err...)
		})
	}
}

func TestValidOutboundPolicies(t *testing.T) {
	for _, p := range []string{
		"none", "may", "encrypt", "dane", "dane-only", "Encrypt",
		"encrypt protocols=>=TLSv1.2", "may ciphers=high, protocols=!SSLv2:!SSLv3",
		"fingerprint match=b6:b4:72:34|51:e9:af:2e", "verify match=hostname:nexthop tafile=/etc/ssl/ta.pem",
		"secure match=.example.net:example.net", "secure,match=nexthop,exclude=aNULL servername=mx.example.net",
		"encrypt connection_reuse=yes",
	} {
		if err := (Settings{OutboundTLS: p}).Validate(); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
}

func TestMerge(t *testing.T) {
	defaults := Settings{RequireTLS: ptr(false), MinTLSVersion: "TLSv1.2", TLSReply: 550, Greylist: "suspicious",
		DNSBLThreshold: ptr(3.0), TagLevel: ptr(5.0), KillLevel: ptr(15.0)}
	over := Settings{RequireTLS: ptr(true), TLSReply: 450, OutboundTLS: "dane", Skip: ptr(true), Greylist: "never",
		KillLevel: ptr(20.0), SPFRejectFail: ptr(false), DMARCEnforce: ptr(true), MinCipherBits: 128, ReplyText: "x"}
	got := defaults.Merge(over)
	want := Settings{RequireTLS: ptr(true), MinTLSVersion: "TLSv1.2", MinCipherBits: 128, TLSReply: 450, ReplyText: "x",
		OutboundTLS: "dane", Skip: ptr(true), DNSBLThreshold: ptr(3.0), SPFRejectFail: ptr(false), Greylist: "never",
		DMARCEnforce: ptr(true), TagLevel: ptr(5.0), KillLevel: ptr(20.0)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Merge:\n got %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(defaults.Merge(Settings{}), defaults) {
		t.Error("merging nothing changed the defaults")
	}
	// A false laid over a true is a setting too: nil means unset, not false.
	if got := (Settings{Skip: ptr(true)}).Merge(Settings{Skip: ptr(false)}); *got.Skip {
		t.Error("skip=false did not override skip=true")
	}
}

func TestMergeCoversEveryField(t *testing.T) {
	// A field added to Settings but forgotten in Merge would be silently
	// dropped from every rule: set all fields through Set and compare.
	var all Settings
	for name, v := range map[string]string{"require_tls": "yes", "min_tls_version": "TLSv1.3", "min_cipher_bits": "256",
		"tls_reply": "450", "reply_text": "r", "outbound_tls": "dane", "skip": "yes", "dnsbl_threshold": "1",
		"spf_reject_fail": "yes", "greylist": "always", "dmarc_enforce": "yes", "tag_level": "1", "kill_level": "2"} {
		if err := all.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	if n := reflect.TypeOf(all).NumField(); n != len(settingNames()) {
		t.Fatalf("Settings has %d fields, settingNames %d", n, len(settingNames()))
	}
	if got := (Settings{}).Merge(all); !reflect.DeepEqual(got, all) {
		t.Errorf("Merge lost fields:\n got %+v\nwant %+v", got, all)
	}
}
