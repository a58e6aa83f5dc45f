package dnsx

import (
	"net"
	"net/netip"
	"time"
)

// outcome is what a question came to.
type outcome uint8

const (
	found    outcome = iota // records of the type asked
	nxdomain                // the name does not exist
	nodata                  // the name exists, without records of the type asked
	failed                  // no usable answer: SERVFAIL, timeout, network, malformed
)

// answer is the outcome of one question, ready to be handed to callers.
//
// Answers are shared: the cache hands one answer to every caller that asks
// for its key, concurrently. An answer is therefore never modified after it
// is built, and the Lookup methods give callers copies of its slices.
type answer struct {
	outcome outcome
	ttl     time.Duration // how long it may be cached; 0: not at all
	server  string        // the nameserver that gave it (or failed last)
	errText string        // the failure, when outcome == failed
	timeout bool          // the failure was a timeout
	weight  uint32        // the heap it holds in the cache (heapBytes), set before it is cached

	// The records, decoded for the Lookup method of their type.
	strs  []string     // TXT strings (raw bytes) or PTR names
	mx    []net.MX     // sorted by preference
	addrs []netip.Addr // A or AAAA
}

// failure returns a failed answer from server.
func failure(server, text string, timeout bool) *answer {
	return &answer{outcome: failed, server: server, errText: text, timeout: timeout}
}

// err returns the error callers get for a; nil if records were found. A new
// *net.DNSError every time: Name is the caller's spelling, and an error
// value shared between callers could be changed by one of them.
func (a *answer) err(name string) error {
	if a.outcome == found {
		return nil
	}
	de := &net.DNSError{Name: name, Server: a.server}
	switch a.outcome {
	case nxdomain:
		de.Err, de.IsNotFound = errNoSuchHost, true
	case nodata:
		de.Err, de.IsNotFound = errNoSuchRecord, true
	default:
		de.Err, de.IsTimeout, de.IsTemporary = a.errText, a.timeout, true
	}
	return de
}
