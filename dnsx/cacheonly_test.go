package dnsx_test

import (
	"context"
	"testing"

	"spamgate/dnsx"
)

// Under CacheOnly a cached answer is given as usual; anything else fails
// at once without a query, is reported as missed, and is neither cached
// nor counted as a DNS error.
func TestCacheOnly(t *testing.T) {
	r, srv, _ := setup(t)
	ctx := context.Background()
	if _, err := r.LookupTXT(ctx, "multi.example.test"); err != nil {
		t.Fatal(err)
	}
	queries := srv.Queries()

	probe, missed := dnsx.CacheOnly(ctx)
	if !dnsx.IsCacheOnly(probe) || dnsx.IsCacheOnly(ctx) {
		t.Fatal("IsCacheOnly does not tell the contexts apart")
	}
	txts, err := r.LookupTXT(probe, "multi.example.test")
	if err != nil || len(txts) != 2 || missed() {
		t.Fatalf("cached name: %q, %v, missed %v", txts, err, missed())
	}
	errors := r.Stats().Errors
	if _, err := r.LookupTXT(probe, "example.test"); err == nil || !missed() {
		t.Fatalf("uncached TXT: err %v, missed %v", err, missed())
	}
	probe, missed = dnsx.CacheOnly(ctx)
	if _, err := r.LookupIP(probe, "ip", "example.test"); err == nil || !missed() {
		t.Fatalf("uncached A and AAAA: err %v, missed %v", err, missed())
	}
	if srv.Queries() != queries || r.Stats().Errors != errors {
		t.Errorf("the misses cost %d queries and %d errors", srv.Queries()-queries, r.Stats().Errors-errors)
	}
	// Not cached as a failure: the real lookup goes out and answers.
	if _, err := r.LookupTXT(ctx, "example.test"); err != nil {
		t.Fatal(err)
	}
}
