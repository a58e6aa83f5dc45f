// Package policyredis reads spamgate's per-recipient policy rules from Redis,
// so that a hosting panel's change takes effect at the next transaction,
// without a reload.
//
// A panel writes one hash per recipient key, the key being a key of the
// policy package's lookup order in lookup form (lower case, IDN domains in
// A-labels) after a prefix, "spamgate:policy:" by default:
//
//	HSET spamgate:policy:example.org require_tls yes min_tls_version TLSv1.2
//	HSET spamgate:policy:.example.org require_tls yes
//	HSET spamgate:policy:bob@example.org greylist never
//	HSET spamgate:policy:* require_tls no
//
// The field names and values are those of a table file (see package policy);
// the conditions sender and client_network are not supported here, since a
// hash has one rule per key and conditions need an order: write such rules
// in a table file. A hash with a bad field is an error for that key, never
// half a rule.
//
// [Source.Lookup] fetches the hashes of all keys of a recipient
// ([policy.Keys]) in one pipeline, so one round trip per lookup whatever the
// address, and returns the rule of the most specific key that exists, as
// policy.Lookup does for the files. Which of a file rule and a Redis rule
// wins is the caller's choice; [policy.KeyRank] tells which is more specific.
//
// Every Redis problem is returned as an error within Options.Timeout: the
// caller decides whether a recipient's mail fails open (global settings) or
// is deferred (tempfail). After many failed connection attempts go-redis
// stops dialing and probes the server once a second, so lookups may go on
// failing for up to a second after Redis is back. go-redis reports failed
// dials through its own logger (redis.SetLogger), which is the program's to
// set, not this package's.
package policyredis
