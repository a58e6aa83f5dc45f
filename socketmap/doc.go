// Package socketmap serves Postfix's socketmap lookup protocol (socketmap_table(5),
// Postfix 2.10 and later), so that spamgate can answer Postfix lookup tables such as
// smtp_tls_policy_maps:
//
//	smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8892:tlspolicy
//
// # Protocol
//
// Every request and every reply is one netstring (http://cr.yp.to/proto/netstrings.txt):
// "LEN:DATA,", LEN the decimal length of DATA without leading zeros. A request is
// "NAME KEY" (the map name from the Postfix table name, a space, the lookup key); a reply
// is one of
//
//	OK value        the key was found
//	NOTFOUND        (with a trailing space) the key was not found
//	TEMP reason     a temporary failure; Postfix defers the work
//	TIMEOUT reason  the same, for a lookup that took too long
//	PERM reason     a permanent (configuration) failure
//
// Postfix keeps a connection open for many requests, one at a time, and limits a reply
// to 100000 bytes (MaxReplySize). A request that is not a netstring, or is longer than
// Server.MaxRequestSize, is a protocol error: the connection is closed, as Postfix does
// on its side. A well-framed request without the space gets a PERM reply.
//
// # Server
//
// A Server calls one Handler for every request, with a deadline (RequestTimeout): a
// handler that has not answered by then gets a TIMEOUT reply sent for it, so one slow
// lookup cannot hold Postfix for Postfix's own, much longer, socketmap timeout. Which map
// names exist is the handler's business (answer PERM for an unknown one). A panicking
// handler yields a TEMP reply: when in doubt Postfix must retry, not give up.
package socketmap
