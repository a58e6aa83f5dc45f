package recipients

import (
	"strings"
	"testing"
)

// FuzzParseTable feeds the parser what a broken export might contain.
// Whatever it refuses must be refused with the file name and a line
// number; whatever it accepts must be found again by a Check of that very
// entry, so that no accepted line is dead.
func FuzzParseTable(f *testing.F) {
	for _, seed := range []string{
		sampleTable,
		"alice@example.test\n@example.test\n# c\n\n",
		"a b@c.d\n",
		"\uFEFFx@xn--bcher-kva.example\r\n",
		"a@b@c.example\n",
		"\"q\"@example.test\n",
		"x@xn--.example\n",
		"user+ext@EXAMPLE.test.\n",
		"*)(mail=*@example.test\n",
		"\xff@x.y\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		tab, err := parseTable("fuzz", strings.NewReader(text))
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz:") && !strings.HasPrefix(line, "... and ") {
					t.Fatalf("error line without file:line: %q", line)
				}
			}
			return
		}
		for key, src := range tab.entries {
			if !strings.HasPrefix(src, "fuzz:") {
				t.Fatalf("source %q", src)
			}
			a := parseAddress(key)
			if !a.domOK {
				t.Fatalf("entry %q has a domain Check refuses", key)
			}
			probe := a
			if a.local == "" {
				probe = parseAddress("someone" + key) // a catch-all
			}
			if _, ok := tab.lookup(probe); !ok {
				t.Fatalf("entry %q is not found by a lookup of itself", key)
			}
		}
	})
}
