// Package soak holds the soak test (`make soak`, not part of `make test`):
// COUNT messages (100,000 by default) through a real Postfix with spamgate as
// its milter, while faults are injected on a schedule, and every message is
// accounted for.
//
// The rig, everything on loopback: a Go SMTP client with CONC workers (up to
// five messages per session) → Postfix smtpd (milter_default_action =
// tempfail) → spamgate, run as its own process (every check on, no DNS cache
// so that DNS faults reach the traffic at once, greylisting of every client
// in a real redis-server with a 1 s delay) → a DNS server (dnsx/dnstest,
// testdata/dns/integration.zone); Postfix relays to a counting SMTP sink
// written in Go, which records the id (soak-NNNNNN, in the Subject and the
// Message-ID) of every message it receives. Postfix's queue and every other
// file of the rig live in /dev/shm (TMPDIR, unless it is set): the soak is
// about accounting for messages, and fsync on a virtual disk would cost
// Postfix a fifth of its throughput.
//
// Each message ends as one of: accepted (250 after the final dot: it must
// then arrive at the sink, exactly once), refused (5xx: only for the messages
// designed to be refused, whose sender domain does not exist or publishes a
// null MX), or, after a 4xx reply or a broken connection, retried after a
// short backoff; a message that exhausts its attempts is a failure. At the
// end the test waits until the sink has every accepted message and Postfix's
// queue is empty, then prints a table of the counts.
//
// Faults, each checked to have hit the traffic: DNS drops a fifth of the
// queries for a while, and answers later than spamgate's DNS timeout for a
// while; redis-server is killed and restarted (greylisting accepts while it
// is down, then greylists every triplet again: its data is gone); spamgate is
// SIGKILLed and restarted on the same port (Postfix tempfails meanwhile);
// a second client keeps abandoning sessions in the middle of DATA.
//
// Run it as root (Postfix's master requires it) with
//
//	make soak
//
// or SPAMGATE_SOAK=1 go test -run TestSoak -v -count=1 -timeout 20m ./soak/.
// SPAMGATE_SOAK_COUNT sets the number of messages (default 100000),
// SPAMGATE_SOAK_CONC the number of client workers (default 20). Without
// SPAMGATE_SOAK=1 the test is skipped, so that `make test` does not run it.
package soak
