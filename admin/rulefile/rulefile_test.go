package rulefile

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestParseKeys: a rule given as JSON keys is checked by check-config's
// code; the message is check-config's without file, line and entry.
func TestParseKeys(t *testing.T) {
	tests := []struct {
		name, body, wantErr string
	}{
		{"ok", `{"recipient":"alice@corp.test","require_tls":true,"min_tls_version":"TLSv1.2","min_cipher_bits":128,"tag_level":5}`, ""},
		{"float", `{"recipient":"corp.test","kill_level":7.5,"tag_level":4}`, ""},
		{"null is absent", `{"recipient":"corp.test","greylist":null}`, ""},
		{"bad version", `{"recipient":"a@corp.test","min_tls_version":"TLSv9"}`, `min_tls_version: "TLSv9" is not one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3`},
		{"unknown key", `{"recipient":"a@corp.test","require_tsl":true}`, "require_tsl: unknown key"},
		{"wrong type", `{"recipient":"a@corp.test","require_tls":"yes"}`, "require_tls: cannot decode TOML string"},
		{"bad recipient", `{"recipient":"@corp.test"}`, `recipient "@corp.test": write a domain without '@' (corp.test)`},
		{"no recipient", `{"require_tls":true}`, "recipient: recipient is required"},
		{"object value", `{"recipient":"a@corp.test","sender":{"x":1}}`, "sender: a rule's value is a string, a number or true/false"},
		{"bad network", `{"recipient":"a@corp.test","client_network":"x"}`, `client_network: "x" is neither a network`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var keys map[string]any
			dec := json.NewDecoder(strings.NewReader(tt.body))
			dec.UseNumber()
			if err := dec.Decode(&keys); err != nil {
				t.Fatal(err)
			}
			_, err := ParseKeys(keys)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseKeys: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !strings.HasPrefix(ve.Msg, tt.wantErr) {
				t.Fatalf("ParseKeys: %v, want a ValidationError starting %q", err, tt.wantErr)
			}
		})
	}
}

// TestStoreLive: a change is in force at the next Lookup, on disk at once,
// and read back by a new Store (a restart).
func TestStoreLive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.toml")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	e, err := s.Add("alice", map[string]any{"recipient": "alice@corp.test", "require_tls": true}, now)
	if err != nil {
		t.Fatal(err)
	}
	r := s.Lookup("alice@corp.test", "x@y.test", netip.MustParseAddr("192.0.2.1"))
	if r == nil || r.Source != "admin:"+e.ID || r.RequireTLS == nil || !*r.RequireTLS {
		t.Fatalf("Lookup after Add = %+v", r)
	}
	if e.Line != 4 {
		t.Errorf("Line = %d, want 4 (after the 2-line header and a blank line)", e.Line)
	}
	if _, _, err := s.Update("bob", e.ID, map[string]any{"recipient": "alice@corp.test", "greylist": "never"}, now); err != nil {
		t.Fatal(err)
	}
	re, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	got := re.Entries()
	if len(got) != 1 || got[0].ID != e.ID || got[0].By != "bob" || got[0].Rule.Greylist != "never" || got[0].Rule.RequireTLS != nil {
		t.Fatalf("after reopen: %+v", got)
	}
	if _, err := s.Delete(e.ID); err != nil {
		t.Fatal(err)
	}
	if r := s.Lookup("alice@corp.test", "", netip.Addr{}); r != nil {
		t.Fatalf("Lookup after Delete = %+v", r)
	}
	if _, err := s.Delete(e.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".rules.toml.tmp*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestLoadErrorsNameLine: a broken file is refused with its line, in the
// same words as the API's 400.
func TestLoadErrorsNameLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.toml")
	data := "[[rule]]\nid = \"a1\"\nrecipient = \"a@corp.test\"\n\n[[rule]]\nid = \"b2\"\nrecipient = \"b@corp.test\"\nmin_tls_version = \"TLSv9\"\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	_, apiErr := ParseKeys(map[string]any{"recipient": "b@corp.test", "min_tls_version": "TLSv9"})
	want := path + ":5: " + apiErr.Error()
	if err == nil || err.Error() != want {
		t.Fatalf("Open: %v\nwant %s", err, want)
	}
}
