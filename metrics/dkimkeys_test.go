package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A second registration (a reload that opened another keys_dir) swaps the
// source; it neither fails nor duplicates the series.
func TestRegisterDKIMKeys(t *testing.T) {
	m := New()
	m.RegisterDKIMKeys(func() DKIMKeyStats { return DKIMKeyStats{Domains: 1, Broken: 4} })
	m.RegisterDKIMKeys(func() DKIMKeyStats { return DKIMKeyStats{Domains: 10000, Broken: 2} })
	var nilM *Metrics
	nilM.RegisterDKIMKeys(func() DKIMKeyStats { return DKIMKeyStats{} })
	want := `
# HELP spamgate_dkim_keys_domains Domains in the DKIM key table.
# TYPE spamgate_dkim_keys_domains gauge
spamgate_dkim_keys_domains 10000
# HELP spamgate_dkim_keys_broken_files Key files the last scan refused (mode, parse errors): their domains keep the keys they had.
# TYPE spamgate_dkim_keys_broken_files gauge
spamgate_dkim_keys_broken_files 2
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"spamgate_dkim_keys_domains", "spamgate_dkim_keys_broken_files"); err != nil {
		t.Error(err)
	}
}
