// Package arc verifies and seals Authenticated Received Chains (RFC 8617)
// on a message that arrives the way a Postfix milter sees it: header
// fields one by one, then body chunks, then the end of the message.
//
// It is built on spamgate's dkim package: the same byte-exact header
// rebuilding (dkim.HeaderLine), canonicalization (dkim.CanonHeader,
// dkim.BodyCanon), tag-lists, key records and private keys.
//
// A chain's result is none (no ARC header fields), pass or fail, per
// RFC 8617 section 5.2:
//
//  1. the ARC sets are collected: instances 1…N contiguous, N ≤ 50 (or
//     the configured bound), exactly one ARC-Authentication-Results (AAR),
//     ARC-Message-Signature (AMS) and ARC-Seal (AS) per instance;
//  2. the newest AS must not say cv=fail; AS(1) says cv=none, every later
//     AS cv=pass;
//  3. the newest AMS must verify (body hash and signature);
//  4. every AS, from N down to 1, must verify;
//  5. oldest-pass: older AMSs are verified from N-1 down, and the lowest
//     instance of the unbroken run of passes is reported (0 when all pass).
//
// Hostile input ends in fail, never in a pass or unbounded work: at most
// 3×max_instances ARC fields are looked at, distinct key lookups are capped,
// at most four body canonicalizations are hashed, and the body is hashed
// only up to the configured size.
package arc
