package rulefile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// FuzzParseKeys: a rule body from the network never panics the parser,
// and a rule it accepts is written and read back as the same rule.
func FuzzParseKeys(f *testing.F) {
	for _, s := range []string{
		`{"recipient":"alice@corp.test","require_tls":true}`,
		`{"recipient":".corp.test","min_tls_version":"TLSv1.2","min_cipher_bits":128,"reply_text":"use TLS"}`,
		`{"recipient":"*","tag_level":4.5,"kill_level":9,"greylist":"never","sender":"<>"}`,
		`{"recipient":"b\u00fccher.example","client_network":"192.0.2.0/24","outbound_tls":"secure match=.x"}`,
		`{"recipient":"a@b","kill_level":1e400}`,
		`{"recipient":"x","require_tls":null,"skip":"yes"}`,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body []byte) {
		var keys map[string]any
		if err := json.Unmarshal(body, &keys); err != nil {
			return
		}
		r, err := ParseKeys(keys)
		if err != nil {
			return
		}
		path := filepath.Join(dir, "rules.toml")
		e := Entry{ID: "f1", By: "fuzz", At: time.Unix(0, 0).UTC(), Rule: r}
		if err := os.WriteFile(path, Marshal([]Entry{e}), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := load(path)
		if err != nil {
			t.Fatalf("an accepted rule %+v does not load back: %v", r, err)
		}
		if len(got) != 1 || !reflect.DeepEqual(got[0].Rule, r) {
			t.Fatalf("round trip: %+v, want %+v", got, r)
		}
	})
}
