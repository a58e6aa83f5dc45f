// Package recipients validates recipients at RCPT for the relay domains,
// so that the internal server never accepts mail for a mailbox it does not
// have and later bounces it to a forged sender (backscatter).
//
// A Validator answers, for one envelope address, whether it is Known,
// Unknown or NotOurs (not a relay domain it validates). It consults, in
// order:
//
//  1. a table file: one address per line, "@domain" as a catch-all for a
//     whole domain, '#' comments and blank lines. Errors name FILE:LINE.
//  2. an LDAP directory, for addresses the table does not have, through a
//     small pool of connections and a size-bounded cache.
//
// Lookups use the address in lower case with the domain in A-labels. As in
// Postfix, an address with a +extension that is not found is looked up
// again without it (user+tag@example.org, then user@example.org), and the
// "@domain" catch-all comes last.
//
// Check returns an error only when the answer depends on LDAP and LDAP
// failed; such errors match ErrUnavailable, and the caller decides to
// tempfail. Building the SMTP reply is the engine's job.
package recipients
