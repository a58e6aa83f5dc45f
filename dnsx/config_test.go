package dnsx

import (
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	cfg, err := Config{Nameservers: []string{"127.0.0.1:5353"}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Nameservers: []string{"127.0.0.1:5353"}, Timeout: 2 * time.Second, Attempts: 2,
		CacheBytes: 64 << 20, MaxAnswerBytes: 16 << 10, MaxInflight: 512, MaxTTL: time.Hour,
	}
	if cfg.Timeout != want.Timeout || cfg.Attempts != want.Attempts || cfg.CacheBytes != want.CacheBytes ||
		cfg.CacheSize != 0 || cfg.MaxAnswerBytes != want.MaxAnswerBytes || cfg.MaxInflight != want.MaxInflight ||
		cfg.MaxTTL != want.MaxTTL {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
}

func TestNameservers(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"127.0.0.1:53", "127.0.0.1:53", false},
		{"[::1]:5353", "[::1]:5353", false},
		{"192.0.2.1", "192.0.2.1:53", false},
		{"::1", "[::1]:53", false},
		{"resolver.example:53", "resolver.example:53", false},
		{"resolver.example", "", true},
		{":53", "", true},
		{"127.0.0.1:", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := nameservers([]string{tt.in})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && got[0] != tt.want {
				t.Fatalf("got %q, want %q", got[0], tt.want)
			}
		})
	}
}

func TestParseResolvConf(t *testing.T) {
	got, err := parseResolvConf(strings.NewReader("# comment\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions ndots:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "192.0.2.53:53" || got[1] != "[2001:db8::53]:53" {
		t.Fatalf("got %q", got)
	}
	if _, err := parseResolvConf(strings.NewReader("search example.test\n")); err == nil {
		t.Fatal("no error without a nameserver")
	}
}

func TestNewErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Nameservers: []string{"nope"}},
		{Nameservers: []string{"127.0.0.1:53"}, Timeout: -time.Second},
		{Nameservers: []string{"127.0.0.1:53"}, MaxTTL: -1},
		{Nameservers: []string{"127.0.0.1:53"}, MaxAnswerBytes: -1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v): no error", cfg)
		}
	}
}
