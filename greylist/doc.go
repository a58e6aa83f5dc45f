// Package greylist defers mail from unknown (client network, sender,
// recipient) triplets, as postgrey does: a real MTA retries after a few
// minutes, most spam software does not. The state is kept in Redis, so that
// every MX host sees the same triplets (a retry often reaches another MX),
// or in memory for a single host.
//
// The engine calls Checker.Check at RCPT. A Checker applies the exemptions
// and whitelists in memory and asks the Store only about the rest, through
// a circuit breaker and a per-call deadline, so that a Redis outage costs a
// milter at most one short timeout per message before failing fast.
package greylist
