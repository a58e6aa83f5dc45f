package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseTable feeds the parser what a broken panel export might contain.
// Whatever it accepts must build a policy without error (the parser checks
// exactly what New checks), and whatever it refuses must be refused with
// the file name and a line number.
func FuzzParseTable(f *testing.F) {
	sample, err := os.ReadFile(filepath.Join("..", "testdata", "policy", "tls-customers"))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(sample),
		"example.org require_tls=yes\n  min_tls_version=TLSv1.2\n",
		`x@bücher.example outbound_tls="secure match=a:b" reply_text="a b"` + "\n",
		"* sender=<> client_network=192.0.2.1/24 greylist=never,tag_level=1e3,kill_level=1e4",
		".sub.example.org\tskip=yes,,,\r\n\t# c\n  dnsbl_threshold=0.5",
		"example.org outbound_tls=\"never",
		"  orphan=1",
		"xn--.example skip=yes",
		"\uFEFFa@b.c skip=1 skip=0",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		rules, err := ParseTable("fuzz", strings.NewReader(text))
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz:") && !strings.HasPrefix(line, "... and ") {
					t.Fatalf("error line without file:line: %q", line)
				}
			}
			return
		}
		for _, r := range rules {
			if !strings.HasPrefix(r.Source, "fuzz:") {
				t.Fatalf("Source %q", r.Source)
			}
		}
		p, _, err := New(rules)
		if err != nil {
			t.Fatalf("the parser accepted what New refuses: %v\ninput %q", err, text)
		}
		for _, r := range rules {
			// Every rule must be reachable by a lookup for its own key
			// (or be shadowed, which the lookup then shows as another rule).
			if p.Lookup(probe(r.Recipient), "", r.ClientNetwork.Addr()) == nil && r.Sender == "" {
				t.Fatalf("no rule found for %q", r.Recipient)
			}
			_ = r.OutboundPolicy()
		}
	})
}

// probe is an address a rule's recipient key matches.
func probe(key string) string {
	switch {
	case key == "*":
		return "someone@anywhere.example"
	case strings.Contains(key, "@"):
		return key
	case strings.HasPrefix(key, "."):
		return "someone@x" + key
	}
	return "someone@" + key
}
