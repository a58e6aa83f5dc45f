package policy

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseTable(t *testing.T) {
	tests := []struct {
		name, text string
		want       []Rule
	}{
		{"empty", "", nil},
		{"comments and blank lines", "# a comment\n\n   \n\t# an indented comment\n", nil},
		{"one entry", "example.org require_tls=yes\n",
			[]Rule{{Recipient: "example.org", Settings: Settings{RequireTLS: ptr(true)}, Source: "t:1"}}},
		{"commas, spaces and tabs", "example.org\trequire_tls=yes,min_tls_version=TLSv1.2 ,  tls_reply=450,\n",
			[]Rule{{Recipient: "example.org", Settings: Settings{RequireTLS: ptr(true), MinTLSVersion: "TLSv1.2", TLSReply: 450}, Source: "t:1"}}},
		{"continuation lines", "# head\nexample.org require_tls=yes\n  min_tls_version=TLSv1.3\n\n# between\n\tgreylist=never\nexample.net skip=yes\n",
			[]Rule{
				{Recipient: "example.org", Settings: Settings{RequireTLS: ptr(true), MinTLSVersion: "TLSv1.3", Greylist: "never"}, Source: "t:2"},
				{Recipient: "example.net", Settings: Settings{Skip: ptr(true)}, Source: "t:7"},
			}},
		{"settings on continuation lines only", "user@example.org\n    require_tls=yes\n",
			[]Rule{{Recipient: "user@example.org", Settings: Settings{RequireTLS: ptr(true)}, Source: "t:1"}}},
		{"quoted values", `example.org outbound_tls="secure match=.example.org:example.org", reply_text="We take mail only over TLS, sorry"` + "\n",
			[]Rule{{Recipient: "example.org", Settings: Settings{OutboundTLS: "secure match=.example.org:example.org", ReplyText: "We take mail only over TLS, sorry"}, Source: "t:1"}}},
		{"quoted simple value", `example.org greylist="never"`,
			[]Rule{{Recipient: "example.org", Settings: Settings{Greylist: "never"}, Source: "t:1"}}},
		{"conditions", "example.org sender=partner.example client_network=192.0.2.0/24 require_tls=no\n*  sender=<> client_network=2001:db8::1 greylist=never\n",
			[]Rule{
				{Recipient: "example.org", Sender: "partner.example", ClientNetwork: netip.MustParsePrefix("192.0.2.0/24"), Settings: Settings{RequireTLS: ptr(false)}, Source: "t:1"},
				{Recipient: "*", Sender: "<>", ClientNetwork: netip.MustParsePrefix("2001:db8::1/128"), Settings: Settings{Greylist: "never"}, Source: "t:2"},
			}},
		{"single IPv4 address, mapped", "example.org client_network=::ffff:192.0.2.1 skip=yes",
			[]Rule{{Recipient: "example.org", ClientNetwork: netip.MustParsePrefix("192.0.2.1/32"), Settings: Settings{Skip: ptr(true)}, Source: "t:1"}}},
		{"CRLF and BOM", "\uFEFFexample.org require_tls=yes\r\n  tls_reply=450\r\n",
			[]Rule{{Recipient: "example.org", Settings: Settings{RequireTLS: ptr(true), TLSReply: 450}, Source: "t:1"}}},
		{"no newline at the end", "example.org dmarc_enforce=no",
			[]Rule{{Recipient: "example.org", Settings: Settings{DMARCEnforce: ptr(false)}, Source: "t:1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustParse(t, tt.text)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseTableErrors(t *testing.T) {
	tests := []struct {
		name, text string
		err        []string
	}{
		{"no settings", "example.org\n", []string{"t:1: example.org: no settings"}},
		{"bad boolean", "# c\nexample.org require_tls=maybe\n", []string{`t:2: require_tls: "maybe" is not yes or no`}},
		{"unknown setting", "example.org require_tsl=yes", []string{`t:1: unknown setting "require_tsl"`}},
		{"not name=value", "example.org require_tls", []string{`t:1: "require_tls" is not name=value`}},
		{"continuation first", "  require_tls=yes\n", []string{"t:1: continuation line"}},
		{"error on a continuation line", "example.org require_tls=yes\n  min_tls_version=TLSv1.3\n  tls_reply=500\n", []string{"t:3: tls_reply: 500"}},
		{"unterminated quote", "example.org outbound_tls=\"secure match=x\n", []string{"t:1: unterminated quote"}},
		{"quote inside a value", `example.org reply_text=a"b"`, []string{`t:1: reply_text: a"b": quotes must enclose the whole value`}},
		{"unquoted outbound attributes", "example.org outbound_tls=secure match=.example.org", []string{
			`t:1: match=.example.org: an outbound_tls attribute goes inside the quotes: outbound_tls="secure match=.example.org"`}},
		{"bad outbound level", `example.org outbound_tls="sure match=x"`, []string{`t:1: outbound_tls: "sure" is not a Postfix TLS security level`}},
		{"inline comment", "example.org require_tls=yes # customer 12", []string{`t:1: "#": a comment must be on a line of its own`}},
		{"at-domain key", "@example.org require_tls=yes", []string{"t:1: recipient \"@example.org\": write a domain without '@' (example.org)"}},
		{"bad key", "exa$mple.org require_tls=yes", []string{"t:1: recipient", "not a valid domain name"}},
		{"key with a comma", "example.org,require_tls=yes", []string{"t:1: recipient", "comma"}},
		{"bad sender", "example.org sender=@a.example require_tls=no", []string{"t:1: sender \"@a.example\""}},
		{"bad network", "example.org client_network=300.0.0.0/8 require_tls=no", []string{`t:1: client_network: "300.0.0.0/8" is not a network`}},
		{"levels cross", "example.org\n  tag_level=10\n  kill_level=5", []string{"t:1: tag_level 10 is above kill_level 5"}},
		{"every bad line reported", "a.example require_tls=x\nok.example skip=yes\nb.example skip=x\n  greylist=x\nc.example\n", []string{
			"t:1: require_tls", "t:3: skip", "t:5: c.example: no settings"}},
		{"line too long", "example.org reply_text=" + strings.Repeat("x", maxLine) + "\n", []string{"t:1: line longer than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, err := ParseTable("t", strings.NewReader(tt.text))
			wantErr(t, err, tt.err...)
			if rules != nil {
				t.Errorf("rules returned with an error: %+v", rules)
			}
		})
	}
}

func TestParseTableReportsEachEntryOnce(t *testing.T) {
	// A bad continuation line fails its entry; the entry is not reported again.
	_, err := ParseTable("t", strings.NewReader("a.example require_tls=yes\n  reply_text=\"x\nb.example skip=yes\n"))
	wantErr(t, err, "t:2: unterminated quote")
	if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
		t.Errorf("%d errors, want 1:\n%v", n, err)
	}
}

func TestSampleTable(t *testing.T) {
	path := filepath.Join("..", "testdata", "policy", "tls-customers")
	rules, err := LoadTables([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	p, warns, err := New(rules)
	if err != nil || len(warns) != 0 {
		t.Fatalf("New: %v, warnings %v", err, warns)
	}
	office := netip.MustParseAddr("198.51.100.20")
	tests := []struct {
		rcpt     string
		client   netip.Addr
		tls      TLSFacts
		ok       bool
		reason   string
		outbound string
	}{
		{"info@kanzlei-mueller.example", netip.Addr{}, TLSFacts{}, false, "accepts mail only over TLSv1.2 or better", "encrypt protocols=>=TLSv1.2"},
		{"info@kanzlei-mueller.example", netip.Addr{}, TLSFacts{Version: "TLSv1.2", Bits: 128}, true, "", "encrypt protocols=>=TLSv1.2"},
		{"a@mail.kanzlei-mueller.example", netip.Addr{}, TLSFacts{Version: "TLSv1.1", Bits: 128}, false, "accepts mail only over TLSv1.2 or better", ""},
		{"empfang@praxis-schmidt.example", netip.Addr{}, TLSFacts{Version: "TLSv1.3", Bits: 128}, false, "requires a cipher of at least 256 bits", "secure match=.mx.praxis-provider.example"},
		{"buchhaltung+2026@handwerk-weber.example", netip.Addr{}, TLSFacts{}, false, "accepts mail only over TLS", ""},
		{"info@handwerk-weber.example", netip.Addr{}, TLSFacts{}, true, "", ""},
		{"info@BÜCHERSTUBE.example", netip.Addr{}, TLSFacts{}, false, "accepts mail only over TLS", "encrypt"},
		{"scan@steuerberatung-klein.example", office, TLSFacts{}, true, "", ""},
		{"scan@steuerberatung-klein.example", netip.MustParseAddr("203.0.113.5"), TLSFacts{}, false, "accepts mail only over TLSv1.2 or better", ""},
	}
	for _, tt := range tests {
		var s Settings // no rule: the global settings, here none
		if r := p.Lookup(tt.rcpt, "sender@elsewhere.example", tt.client); r != nil {
			s = r.Settings
		}
		ok, reason := s.CheckTLS(tt.tls)
		if ok != tt.ok || !tt.ok && reason != tt.reason {
			t.Errorf("%s: CheckTLS = %v %q, want %v %q", tt.rcpt, ok, reason, tt.ok, tt.reason)
		}
		if tt.outbound != "" {
			_, domain, _ := strings.Cut(tt.rcpt, "@")
			if got := p.LookupDomain(domain).OutboundPolicy(); got != tt.outbound {
				t.Errorf("LookupDomain(%s).OutboundPolicy() = %q, want %q", domain, got, tt.outbound)
			}
		}
	}
	r := p.Lookup("a@praxis-schmidt.example", "", netip.Addr{})
	if r.ReplyText != "Praxis Schmidt accepts mail only over encrypted connections" || !strings.HasSuffix(r.Source, "tls-customers:24") {
		t.Errorf("praxis rule: %+v", r)
	}
}

func TestLoadTables(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	b := filepath.Join(dir, "b")
	bad := filepath.Join(dir, "bad")
	write(t, a, "example.org require_tls=yes\n")
	write(t, b, "# b\nexample.org require_tls=no\nexample.net skip=yes\n")
	write(t, bad, "example.com require_tls=perhaps\n")

	rules, err := LoadTables([]string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, r := range rules {
		sources = append(sources, r.Source)
	}
	want := []string{a + ":1", b + ":2", b + ":3"}
	if !reflect.DeepEqual(sources, want) {
		t.Errorf("sources %v, want %v (files in order)", sources, want)
	}

	rules, err = LoadTables([]string{a, bad, filepath.Join(dir, "missing")})
	wantErr(t, err, bad+":1: require_tls", "policy table: open "+filepath.Join(dir, "missing"))
	if rules != nil {
		t.Error("rules returned with an error")
	}
}

func write(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
