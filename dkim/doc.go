// Package dkim signs and verifies DKIM signatures (RFC 6376, RFC 8463) on a
// message that arrives the way a Postfix milter sees it: header fields one
// by one, then body chunks, then the end of the message.
//
// The cryptography and canonicalization come from go-msgauth's dkim package
// (v0.7.0). This package adds what a milter needs around it: byte-exact
// header rebuilding (HeaderLine), streaming through an io.Pipe so a body is
// never held whole in memory, DNS error shaping so that temporary DNS
// trouble becomes temperror, RFC 8601 result words, and the signature
// details (s=, a=, b=) that RFC 6008 wants in Authentication-Results.
//
// Results, per signature:
//
//	pass       the signature verifies (t=y keys say so in Reason)
//	fail       body hash or signature mismatch; rsa-sha1 (RFC 8301 3.1)
//	policy     RSA key under 1024 bits (RFC 8301 3.2); l= present (content
//	           may be appended, RFC 6376 8.2); a body with over 1 MiB of
//	           empty lines to replay mid-body, or of white-space lines
//	           with mixed simple and relaxed signatures (bound on memory
//	           and on go-msgauth's copying, see blank.go)
//	temperror  the key lookup failed temporarily (timeout, SERVFAIL, any
//	           error that is not NXDOMAIN) or ctx ended first
//	permerror  no key (NXDOMAIN, no record, several records), revoked key
//	           (empty p=), malformed signature or key, expired x=, i= a
//	           subdomain of d= under a t=s key (RFC 6376 3.6.1)
//
// neutral is never produced. go-msgauth checks i= against d= case-
// sensitively, so "d=Example.org; i=@example.org" is a permerror.
package dkim
