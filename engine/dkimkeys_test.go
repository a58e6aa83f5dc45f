package engine

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"spamgate/config"
	"spamgate/dkim"
	"spamgate/dnsx"
)

func writeTestKey(t *testing.T, path string) {
	t.Helper()
	_, pemKey, err := dkim.GenerateKey("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The engine takes keys from [[dkim.key]] first, then the key table; a
// reload takes the previous engine's table over and rescans it.
func TestKeySources(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	writeTestKey(t, filepath.Join(keys, "a.test", "tbl.pem"))
	writeTestKey(t, filepath.Join(keys, "b.test", "tbl.pem"))
	static := filepath.Join(dir, "static.pem")
	writeTestKey(t, static)
	cfg, err := config.Parse("engine.toml", fmt.Appendf(nil, `[dns]
nameservers = ["127.0.0.1:1"]
[dnsbl]
enabled = false
[dkim]
keys_dir = %q
[[dkim.key]]
domain = "b.test"
selector = "static"
file = %q
`, keys, static))
	if err != nil {
		t.Fatal(err)
	}
	res, err := dnsx.New(dnsx.Config{Nameservers: cfg.DNS.Nameservers})
	if err != nil {
		t.Fatal(err)
	}
	e1, err := New(cfg, res, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e1.Close()
	sel := func(e *Engine, d string) string {
		ks := e.keys.Keys(d)
		if len(ks) != 1 {
			return fmt.Sprint(len(ks), " keys")
		}
		return ks[0].Selector
	}
	for d, want := range map[string]string{"a.test": "tbl", "B.Test.": "static", "c.test": "0 keys"} {
		if got := sel(e1, d); got != want {
			t.Errorf("%s signs with %s, want %s", d, got, want)
		}
	}
	writeTestKey(t, filepath.Join(keys, "c.test", "new.pem"))
	e2, err := New(cfg, res, slog.New(slog.DiscardHandler), e1)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if e2.KeyTable() != e1.KeyTable() {
		t.Error("the reload opened the key table anew instead of taking it over")
	}
	if got := sel(e2, "c.test"); got != "new" {
		t.Errorf("after the reload c.test signs with %s, want new", got)
	}
	if !e2.NeedsBody() {
		t.Error("an engine that signs does not ask for the body")
	}
}
