package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The DMARC history's counters are read at scrape time; a second
// registration (a reload) swaps the source instead of failing.
func TestRegisterDMARCHistory(t *testing.T) {
	m := New()
	m.RegisterDMARCHistory(func() DMARCHistoryStats { return DMARCHistoryStats{Written: 1, Dropped: 2, Errors: 1, Queued: 3} })
	m.RegisterDMARCHistory(func() DMARCHistoryStats { return DMARCHistoryStats{Written: 5, Dropped: 7, Errors: 2} })
	want := `
# HELP spamgate_dmarc_history_dropped_total DMARC evaluations dropped (a full queue: the disk hangs; or a failed write): aggregate reports miss them.
# TYPE spamgate_dmarc_history_dropped_total counter
spamgate_dmarc_history_dropped_total 7
# HELP spamgate_dmarc_history_errors_total Failed DMARC history writes (a full disk, I/O errors).
# TYPE spamgate_dmarc_history_errors_total counter
spamgate_dmarc_history_errors_total 2
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"spamgate_dmarc_history_dropped_total", "spamgate_dmarc_history_errors_total"); err != nil {
		t.Error(err)
	}
	m.RegisterDMARCHistory(nil)
	if n, _ := testutil.GatherAndCount(m.Registry(), "spamgate_dmarc_history_dropped_total"); n != 0 {
		t.Errorf("%d series after the source is removed", n)
	}
}
