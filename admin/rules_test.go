package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"spamgate/config"
	"spamgate/dnsx"
	"spamgate/engine"
)

// newRulesConsole builds a console over an engine with a [[policy.rule]],
// a table file and an admin rules file.
func newRulesConsole(t *testing.T) (*Console, string) {
	t.Helper()
	dir := t.TempDir()
	table := filepath.Join(dir, "customers")
	if err := os.WriteFile(table, []byte("corp.test  require_tls=yes\nbob@corp.test  greylist=never\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "rules.toml")
	text := fmt.Sprintf(`
[dns]
nameservers = ["127.0.0.1:1"]
[dnsbl]
enabled = false
[policy]
tables = [%q]
[[policy.rule]]
recipient = "*"
greylist = "never"
[[policy.rule]]
recipient = "alice@corp.test"
sender = "partner.test"
require_tls = false
[admin]
rules_file = %q
history_store = "off"
`, table, rules)
	cfg, err := config.Parse(filepath.Join(dir, "spamgate.toml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	res, err := dnsx.New(dnsx.Config{Nameservers: cfg.DNS.Nameservers})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(cfg, res, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	c, err := NewConsole(ConsoleOptions{Engine: func() *engine.Engine { return eng }})
	if err != nil {
		t.Fatal(err)
	}
	return c, dir
}

// TestRulesAllSources: the listing's order and ids, the recipient filter,
// and Lookup's pick across the sources (the most specific key; at an
// equal key the admin rule), conditions included.
func TestRulesAllSources(t *testing.T) {
	c, dir := newRulesConsole(t)
	ctx := context.Background()
	added, err := c.AddRule(ctx, "alice", map[string]any{"recipient": "corp.test", "require_tls": false})
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.Rules(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range all {
		ids = append(ids, r.ID)
	}
	if got, want := strings.Join(ids, " "), added.ID+" config-1 config-2 table-1 table-2"; got != want {
		t.Errorf("ids %q, want %q", got, want)
	}
	tests := []struct {
		filter string
		want   int
	}{
		{"bob@corp.test", 4},    // admin corp.test, *, table corp.test, table bob@
		{"carol@other.test", 1}, // *
		{"corp", 4},             // text: admin corp.test, alice@, table corp.test, bob@
	}
	for _, tt := range tests {
		got, err := c.Rules(ctx, tt.filter)
		if err != nil || len(got) != tt.want {
			t.Errorf("Rules(%q) = %d rules (%v), want %d: %+v", tt.filter, len(got), err, tt.want, got)
		}
	}

	looks := []struct {
		rcpt, sender, want string
	}{
		{"carol@corp.test", "", added.ID}, // admin wins at the equal key corp.test
		{"bob@corp.test", "", "table-2"},  // a more specific file key wins
		{"alice@corp.test", "", added.ID}, // alice@'s rule has a sender condition
		{"alice@corp.test", "x@partner.test", "config-2"},
		{"carol@other.test", "", "config-1"},
	}
	for _, l := range looks {
		v, err := c.LookupFor(ctx, l.rcpt, l.sender, "")
		if err != nil || v.Rule == nil || v.Rule.ID != l.want || !strings.Contains(v.Why, v.Rule.Source) {
			t.Errorf("LookupFor(%s, %q) = %+v, %v; want rule %s", l.rcpt, l.sender, v.Rule, err, l.want)
		}
	}

	if _, err := c.UpdateRule(ctx, "alice", "table-1", map[string]any{"recipient": "corp.test"}); !errors.Is(err, ErrNotEditable) {
		t.Errorf("UpdateRule(table-1): %v", err)
	}
	if err := c.DeleteRule(ctx, "alice", "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteRule(nope): %v", err)
	}
	var ve *ValidationError
	if _, err := c.AddRule(ctx, "alice", map[string]any{"recipient": "x@corp.test", "greylist": "sometimes"}); !errors.As(err, &ve) {
		t.Errorf("AddRule with a bad value: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "audit.jsonl")); err != nil {
		t.Errorf("no audit beside the rules file: %v", err)
	}
}
