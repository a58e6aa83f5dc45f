// Package dnsx is the stub resolver every spamgate check uses.
//
// It speaks DNS itself (github.com/miekg/dns) rather than going through
// net.Resolver, because the checks need what net hides: NXDOMAIN told apart
// from NODATA, SERVFAIL, and the TTLs a cache needs. It talks to the
// configured recursive nameservers over UDP with EDNS0, retries over TCP
// when an answer is truncated, fails over between nameservers, and caches
// positive and negative answers (RFC 2308) in memory.
//
// Every error a lookup returns is an unwrapped *net.DNSError, because
// go-msgauth and the SPF library classify errors by type assertion (a
// wrapped error turns a temporary failure into a permanent one):
//
//   - NXDOMAIN: Err "no such host", IsNotFound;
//   - NODATA (the name exists, without records of the type asked): Err
//     "no such record", IsNotFound;
//   - SERVFAIL, REFUSED, other rcodes, network errors, malformed answers:
//     IsTemporary;
//   - timeouts, including the caller's context deadline: IsTimeout and
//     IsTemporary. A cancelled context gives IsTemporary. ctx.Err() itself
//     is never returned.
//
// IsNotFound, IsNXDomain and IsTemporary classify them.
//
// Names are taken in presentation format: a backslash starts an escape
// (\. or \DDD) and other bytes stand for themselves, so a name such as
// "a b.example" from an SPF macro is looked up with its space. Names that
// cannot be a domain name (an empty label, a label over 63 bytes, over 255
// bytes in all) are "no such host", as net.Resolver has them. Names returned
// (MX hosts, PTR names) are fully qualified and in presentation format too,
// so an odd byte comes back escaped; TXT strings come back as raw bytes.
package dnsx
