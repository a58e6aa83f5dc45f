package policy

import (
	"net/netip"
	"strings"
	"testing"
)

func TestWarnings(t *testing.T) {
	pfx := netip.MustParsePrefix
	tests := []struct {
		name  string
		rules []Rule
		want  []string // "SOURCE: substring", in order
	}{
		{"none", []Rule{
			{Recipient: "example.org", Sender: "a.example", Source: "1"},
			{Recipient: "example.org", Source: "2"}, // after a conditional rule: reachable
			{Recipient: "user@example.org", Source: "3"},
			{Recipient: ".example.org", Source: "4"},
		}, nil},
		{"duplicate key", []Rule{
			{Recipient: "example.org", Source: "t:1"},
			{Recipient: "EXAMPLE.org", Source: "t:9"},
		}, []string{"t:9: never matches: t:1 already has a rule for example.org with the same conditions"}},
		{"duplicate IDN in both forms", []Rule{
			{Recipient: "bücher.example", Source: "t:1"},
			{Recipient: "xn--bcher-kva.example", Source: "t:2"},
		}, []string{"t:2: never matches: t:1"}},
		{"duplicate conditions", []Rule{
			{Recipient: "example.org", Sender: "a.example", ClientNetwork: pfx("192.0.2.0/24"), Source: "t:1"},
			{Recipient: "example.org", Sender: "A.example", ClientNetwork: pfx("192.0.2.0/24"), Source: "t:2"},
		}, []string{"t:2: never matches: t:1 already has"}},
		{"shadowed by a rule without conditions", []Rule{
			{Recipient: "example.org", Source: "config.toml:40"},
			{Recipient: "example.org", Sender: "a.example", Source: "t:2"},
			{Recipient: "example.org", ClientNetwork: pfx("10.0.0.0/8"), Source: "t:3"},
		}, []string{
			"t:2: never matches: the rule at config.toml:40 for example.org comes first and its conditions (none) cover this one's",
			"t:3: never matches: the rule at config.toml:40",
		}},
		{"sender domain covers its addresses", []Rule{
			{Recipient: "*", Sender: "a.example", Source: "t:1"},
			{Recipient: "*", Sender: "boss@a.example", Source: "t:2"},
		}, []string{"t:2: never matches: the rule at t:1 for * comes first and its conditions (sender=a.example)"}},
		{"sender parent covers subdomains", []Rule{
			{Recipient: "*", Sender: ".a.example", Source: "t:1"},
			{Recipient: "*", Sender: "eu.a.example", Source: "t:2"},
			{Recipient: "*", Sender: ".eu.a.example", Source: "t:3"},
			{Recipient: "*", Sender: "x@b.eu.a.example", Source: "t:4"},
			{Recipient: "*", Sender: "a.example", Source: "t:5"}, // the domain itself is not covered
		}, []string{"t:2: never matches", "t:3: never matches", "t:4: never matches"}},
		{"sender address covers its extensions", []Rule{
			{Recipient: "*", Sender: "u@a.example", Source: "t:1"},
			{Recipient: "*", Sender: "u+x@a.example", Source: "t:2"},
			{Recipient: "*", Sender: "v+x@a.example", Source: "t:3"},
		}, []string{"t:2: never matches: the rule at t:1"}},
		{"null sender", []Rule{
			{Recipient: "*", Sender: "<>", Source: "t:1"},
			{Recipient: "*", Sender: "<>", ClientNetwork: pfx("192.0.2.0/24"), Source: "t:2"},
			{Recipient: "*", Sender: "a.example", Source: "t:3"},
		}, []string{"t:2: never matches: the rule at t:1 for * comes first and its conditions (sender=<>)"}},
		{"wider client network first", []Rule{
			{Recipient: "example.org", ClientNetwork: pfx("192.0.0.0/16"), Source: "t:1"},
			{Recipient: "example.org", ClientNetwork: pfx("192.0.2.0/24"), Source: "t:2"},
			{Recipient: "example.org", ClientNetwork: pfx("192.0.2.9/32"), Sender: "a.example", Source: "t:3"},
			{Recipient: "example.org", ClientNetwork: pfx("2001:db8::/32"), Source: "t:4"},
		}, []string{"t:2: never matches: the rule at t:1", "t:3: never matches: the rule at t:1"}},
		{"narrower client network first", []Rule{
			{Recipient: "example.org", ClientNetwork: pfx("192.0.2.0/24"), Source: "t:1"},
			{Recipient: "example.org", ClientNetwork: pfx("192.0.0.0/16"), Source: "t:2"},
		}, nil},
		{"both conditions needed to cover", []Rule{
			{Recipient: "example.org", Sender: "a.example", ClientNetwork: pfx("192.0.2.0/24"), Source: "t:1"},
			{Recipient: "example.org", Sender: "a.example", Source: "t:2"},
			{Recipient: "example.org", ClientNetwork: pfx("192.0.2.0/24"), Source: "t:3"},
			{Recipient: "example.org", Sender: "x@a.example", ClientNetwork: pfx("192.0.2.128/25"), Source: "t:4"},
		}, []string{"t:4: never matches: the rule at t:1"}},
		{"host bits", []Rule{
			{Recipient: "example.org", ClientNetwork: pfx("192.0.2.7/24"), Source: "t:1"},
		}, []string{"t:1: client_network 192.0.2.7/24 has host bits set; using 192.0.2.0/24"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, warns, err := New(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			if len(warns) != len(tt.want) {
				t.Fatalf("got %d warnings, want %d:\n%s", len(warns), len(tt.want), joinWarnings(warns))
			}
			for i, w := range warns {
				if !strings.Contains(w.String(), tt.want[i]) {
					t.Errorf("warning %d = %q, want it to contain %q", i, w, tt.want[i])
				}
			}
		})
	}
}

func TestWarningsFromTable(t *testing.T) {
	config := []Rule{{Recipient: "example.org", Settings: Settings{RequireTLS: ptr(true)}, Source: "spamgate.toml:12"}}
	table := mustParse(t, `
example.org  greylist=never
example.net  require_tls=yes, require_tls=no
    min_tls_version=TLSv1.2 min_tls_version=TLSv1.3
`)
	_, warns, err := New(append(config, table...))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"t:2: never matches: spamgate.toml:12 already has a rule for example.org with the same conditions",
		"t:3: require_tls is set twice for example.net (line 3); the last value wins; min_tls_version is set twice for example.net (line 4)",
	}
	if len(warns) != len(want) {
		t.Fatalf("warnings:\n%s", joinWarnings(warns))
	}
	for i := range want {
		if !strings.Contains(warns[i].String(), want[i]) {
			t.Errorf("warning %d = %q, want %q", i, warns[i], want[i])
		}
	}
	if *table[1].RequireTLS || table[1].MinTLSVersion != "TLSv1.3" {
		t.Errorf("the last value did not win: %+v", table[1].Settings)
	}
}

func joinWarnings(ws []Warning) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.String() + "\n")
	}
	return b.String()
}
