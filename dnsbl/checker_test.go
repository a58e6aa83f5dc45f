package dnsbl

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestNewErrors(t *testing.T) {
	ok := ZoneConfig{Name: "bl.example", Weight: 1}
	tests := []struct {
		name  string
		zones []ZoneConfig
		want  string
	}{
		{"no zones", nil, "no zones"},
		{"empty name", []ZoneConfig{{Name: " . ", Weight: 1}}, "1 to 189 characters"},
		{"space in name", []ZoneConfig{{Name: "zen spamhaus.org", Weight: 1}}, "bad character"},
		{"empty label", []ZoneConfig{{Name: "zen..org", Weight: 1}}, "bad label"},
		{"long label", []ZoneConfig{{Name: strings.Repeat("a", 64) + ".org", Weight: 1}}, "bad label"},
		{"too long for ipv6", []ZoneConfig{{Name: strings.Repeat("abcdefgh.", 22), Weight: 1}}, "189"},
		{"duplicate", []ZoneConfig{ok, {Name: "BL.Example.", Weight: 2}}, `zone 2 ("BL.Example."): listed twice`},
		{"negative weight", []ZoneConfig{{Name: "a.example", Weight: -1}}, "weight -1"},
		{"NaN weight", []ZoneConfig{{Name: "a.example", Weight: math.NaN()}}, "weight NaN"},
		{"infinite weight", []ZoneConfig{{Name: "a.example", Weight: math.Inf(1)}}, "weight +Inf"},
		{"bad code", []ZoneConfig{ok, {Name: "b.example", Weight: 1, Codes: []string{"127.0.0.2", "x"}}},
			`zone 2 ("b.example"): return code "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.zones, newFake(), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestNewNoResolver(t *testing.T) {
	if _, err := New([]ZoneConfig{{Name: "bl.example"}}, nil, nil); err == nil {
		t.Fatal("New with nil resolver succeeded")
	}
}

func TestNewNormalizes(t *testing.T) {
	c, err := New([]ZoneConfig{{Name: " ZEN.Example.ORG. "}, {Name: "dqs_key-1.zen.example"}}, newFake(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"zen.example.org", "dqs_key-1.zen.example"}
	if got := c.Zones(); !slices.Equal(got, want) {
		t.Errorf("Zones() = %q, want %q", got, want)
	}
}

func TestStatusString(t *testing.T) {
	tests := []struct {
		s    Status
		want string
	}{
		{Listed, "listed"}, {NotListed, "not_listed"}, {Blocked, "blocked"}, {Filtered, "filtered"},
		{Error, "error"}, {Skipped, "skipped"}, {0, "unknown"}, {Skipped + 1, "unknown"}, {-1, "unknown"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("Status(%d).String() = %q, want %q", int(tt.s), got, tt.want)
		}
		if b, _ := tt.s.MarshalText(); string(b) != tt.want {
			t.Errorf("Status(%d).MarshalText() = %q, want %q", int(tt.s), b, tt.want)
		}
	}
}
