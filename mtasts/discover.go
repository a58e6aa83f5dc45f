package mtasts

import (
	"context"
	"errors"
	"fmt"

	"spamgate/dnsx"
)

// errBackoff is the fetch error while a failed policy id is not retried.
var errBackoff = errors.New("mtasts: policy fetch failed recently, not retried yet")

// errBusy is the fetch error of a lookup while Options.MaxFetches fetches run.
var errBusy = errors.New("mtasts: too many policy fetches running, not fetched now")

// temporaryError marks a failure that may go away, as opposed to a definite "no
// record" or an invalid one.
type temporaryError struct{ err error }

func (e *temporaryError) Error() string { return e.err.Error() }
func (e *temporaryError) Unwrap() error { return e.err }

func isTemporary(err error) bool {
	var te *temporaryError
	return errors.As(err, &te)
}

// discover looks up the TXT record "_mta-sts.DOMAIN" (RFC 8461 3.1) and returns the
// policy id. A missing record (NXDOMAIN, NODATA) wraps ErrNoRecord; a DNS failure is a
// temporaryError; an invalid record is a plain error.
func (c *Client) discover(ctx context.Context, domain string) (string, error) {
	name := "_mta-sts." + domain
	records, err := c.opts.Resolver.LookupTXT(ctx, name)
	switch {
	case err != nil && dnsx.IsNotFound(err):
		return "", fmt.Errorf("%w at %s", ErrNoRecord, name)
	case err != nil:
		return "", &temporaryError{fmt.Errorf("mtasts: TXT lookup %s: %w", name, err)}
	}
	id, err := ParseTXT(records)
	if err != nil {
		return "", fmt.Errorf("%w (at %s)", err, name)
	}
	return id, nil
}
