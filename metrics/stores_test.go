package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRegisterStores(t *testing.T) {
	m := New()
	m.RegisterStores(func() StoreStats { return StoreStats{} })
	m.RegisterStores(func() StoreStats {
		return StoreStats{HasGreylistMemory: true, GreylistTriplets: 7, GreylistEvictedWaiting: 3,
			HasLDAP: true, LDAPRateLimited: 5}
	})
	want := `
# HELP spamgate_greylist_memory_evicted_total Entries evicted from the full in-process greylist store, by kind (waiting go first).
# TYPE spamgate_greylist_memory_evicted_total counter
spamgate_greylist_memory_evicted_total{kind="passed"} 0
spamgate_greylist_memory_evicted_total{kind="waiting"} 3
spamgate_greylist_memory_evicted_total{kind="whitelist"} 0
# HELP spamgate_recipients_ldap_rate_limited_total Recipient lookups not made: the client network spent its [recipients.ldap] client_miss_rate.
# TYPE spamgate_recipients_ldap_rate_limited_total counter
spamgate_recipients_ldap_rate_limited_total 5
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"spamgate_greylist_memory_evicted_total", "spamgate_recipients_ldap_rate_limited_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(m.Registry(), "spamgate_mta_sts_evicted_total"); err != nil || n != 0 {
		t.Errorf("MTA-STS metrics without MTA-STS: %d, %v", n, err)
	}
}
