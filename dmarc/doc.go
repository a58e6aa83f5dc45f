// Package dmarc evaluates DMARC (RFC 9989, which obsoletes RFC 7489 and
// RFC 9091) for one message at the end of the SMTP transaction.
//
// The package follows the RFC's structure:
//
//   - ParseRecord reads a DMARC Policy Record (4.7, 4.8): case-insensitive
//     tag names and values, unknown and removed tags (pct, rf, ri) ignored,
//     tags with syntax errors replaced by their defaults, an invalid p/sp/np
//     rescued to p=none by a valid rua (4.10.1).
//   - The DNS Tree Walk (4.10) queries at most eight names, jumping from an
//     Author Domain of eight or more labels straight to its last seven, and
//     stops at a record with psd=y or psd=n. Several DMARC records at one
//     name count as none there.
//   - Policy Discovery (4.10.1) takes the Author Domain's record, else the
//     Organizational Domain's, else the Public Suffix Domain's.
//   - OrganizationalDomain applies the selection rules of 4.10.2.
//   - Evaluate checks Identifier Alignment (4.4), decides pass or fail
//     (5.3.5), chooses p, sp or np (4.10.1) and applies t=y (4.7).
//
// Every lookup takes a context.Context and goes through a Resolver; the
// package keeps no state between calls. Enforcement, Authentication-Results
// and aggregate-report storage belong to the caller.
package dmarc
