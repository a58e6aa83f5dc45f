// Package dnstest runs a real DNS server on loopback for tests.
//
// A Zone holds records (added as dns.RR values or RFC 1035 zone-file text)
// and failure rules; Start serves it on 127.0.0.1 over UDP and TCP on the
// same port, so code under test talks to it exactly as it would to a real
// resolver. Knobs on the Server inject the trouble real DNS has: slow answers,
// lost packets, truncated UDP.
//
// Answering rule, for a question (name, type):
//
//  1. records of that type at that name → answer them (AA set);
//  2. else a CNAME at that name → answer it and chase its target inside the
//     zone, applying these rules again at the target;
//  3. else a Timeout or ServFail rule for (name, type), or for (name, ANY),
//     applies: no answer, or SERVFAIL;
//  4. else NODATA if the name exists, NXDOMAIN otherwise. A name exists when
//     it owns records or is an ancestor of a name that does (an "empty
//     non-terminal", RFC 8020). Both negative answers carry a SOA in the
//     authority section: the closest enclosing SOA of the zone if it has one,
//     else a synthesized root SOA whose TTL and MINIMUM are the zone's
//     negative TTL (60 s unless SetNegativeTTL says otherwise).
//
// A name the zone does not have (no node, not even an empty non-terminal)
// gets the records of type asked of "*.ENCLOSER", where ENCLOSER is its
// nearest existing ancestor, with its own name as owner (RFC 4592; a wildcard
// CNAME is not chased). Rule 3 (failure rules) still applies before it.
// DNSSEC and zone transfers are not supported.
package dnstest
