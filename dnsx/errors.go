package dnsx

import (
	"errors"
	"net"
)

// Err texts of the *net.DNSError values this package returns. The first
// two are net.Resolver's own.
const (
	errNoSuchHost   = "no such host"   // NXDOMAIN, or a name that cannot exist
	errNoSuchRecord = "no such record" // NODATA
	errTimeout      = "i/o timeout"
	errCanceled     = "operation was canceled"
)

// IsNotFound reports whether err says the name or its records do not exist
// (NXDOMAIN or NODATA): a definite answer, not a failure.
func IsNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// IsNXDomain reports whether err says the name does not exist at all
// (NXDOMAIN), as opposed to existing without records of the type asked.
func IsNXDomain(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound && de.Err == errNoSuchHost
}

// IsTemporary reports whether err is a failure that may go away: SERVFAIL,
// a timeout, a network error. Mail must then be tempfailed, never rejected.
func IsTemporary(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && (de.IsTemporary || de.IsTimeout)
}

// invalidNameError is the error for a name that cannot be a domain name, or
// that the caller handed us in a shape no DNS question can take.
func invalidNameError(name string) error {
	return &net.DNSError{Err: errNoSuchHost, Name: name, IsNotFound: true}
}
