package config

import (
	"strings"
	"testing"
)

func TestARCErrorsNameLineAndKey(t *testing.T) {
	for _, tt := range []struct{ name, text, want string }{
		{"max_instances 0", "[arc]\nmax_instances = 0\n", "f.toml:2: arc.max_instances"},
		{"max_instances 51", "[arc]\n\nmax_instances = 51\n", "f.toml:3: arc.max_instances"},
		{"max_key_lookups", "[arc]\nmax_key_lookups = 0\n", "f.toml:2: arc.max_key_lookups"},
		{"trusted sealer", "[arc]\ntrusted_sealers = [\"lists example\"]\n", "f.toml:2: arc.trusted_sealers"},
		{"forwarded domain", "[arc]\nforwarded_domains = [\"a..b\"]\n", "f.toml:2: arc.forwarded_domains"},
		{"sealing without sealer", "[arc]\nseal_outbound = true\n", "arc.sealer_domain"},
		{"key without file", "[arc]\n[[arc.key]]\ndomain = \"a.example\"\nselector = \"s\"\n", "arc.key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	cfg, err := Parse("f.toml", []byte("[arc]\ntrusted_sealers = [\"lists.example.org\"]\nseal_outbound = true\nsealer_domain = \"lists.example.org\"\n"))
	if err != nil || !cfg.ARC.Sealing() || cfg.ARC.MaxInstances != 50 || cfg.Score.Points.ARCFail != 1 {
		t.Fatalf("%v %+v", err, cfg.ARC)
	}
}
