// Package dnsbl looks a client address up in DNS blocklists (RFC 5782).
//
// Several zones are queried in parallel; each zone that lists the client adds
// its weight to a score that the caller compares with its reject threshold.
// Only answers inside 127.0.0.0/8 that match a zone's accepted codes count as
// listings. Answers in 127.255.255.0/24 ("query blocked", used by Spamhaus for
// open resolvers and over-quota clients) and answers outside 127.0.0.0/8
// (NXDOMAIN rewriting, broken lists) never count: they mark the zone
// unhealthy instead, because a list that answers that way would otherwise make
// every client look listed.
//
// A zone is only used once its RFC 5782 test points (127.0.0.2 listed,
// 127.0.0.1 not listed) have been seen to work; see Checker.CheckHealth and
// Checker.Monitor. DNS errors never count as listings: the check fails open.
package dnsbl
