// Package mtasts implements the sending side of SMTP MTA Strict Transport Security
// (MTA-STS, RFC 8461) for Postfix: it discovers a domain's policy (TXT record
// "_mta-sts.DOMAIN", RFC 8461 3.1), fetches it over HTTPS (3.3), parses it (3.2), caches
// it for its max_age, and renders it as a Postfix smtp_tls_policy_maps value.
//
// # What Lookup answers
//
// MTA-STS is "trust on first use": its protection comes from the cache. So
//
//   - a cached policy that has not expired stays in force when the TXT record or the
//     HTTPS fetch fails, and also when the TXT record disappears (RFC 8461 3.3, 8.3,
//     10.2): only a newly fetched policy (for example mode "none") replaces it;
//   - a new TXT id (3.1) makes Lookup fetch the policy again;
//   - with no cached policy, no record, an invalid record (3.1) or a failed fetch means
//     "no MTA-STS" (3.3: senders MUST then deliver as though the domain had none), and
//     Lookup returns (nil, nil); only a temporary DNS failure of the TXT lookup is
//     returned as an error, so the caller may defer or carry on.
//
// Refresh (or Run) re-fetches cached policies before they expire, at most a day after
// their fetch (3.3: "a suggested refresh frequency is once per day").
//
// # Fetching
//
// The policy host "mta-sts.DOMAIN" is resolved with Options.Resolver, never the system
// resolver; the certificate must chain to Options.RootCAs and be valid for that name
// (3.3, 4.2 rules via crypto/tls); TLS 1.2 or better (7.2); only HTTP 200 counts,
// redirects are never followed and nothing is cached by HTTP (3.3); the media type must
// be text/plain (3.2); the body is limited in size and the whole fetch in time (3.3
// suggests 64 KB and one minute). After a failed fetch the same policy id is not fetched
// again for Options.FetchBackoff, so a broken policy host does not slow every delivery.
//
// # Limits against hostile domains
//
// Anyone who can make Postfix deliver to a domain (or ask the socketmap) chooses which
// policies are fetched, so: at most Options.MaxFetches fetches run at once (a lookup
// over it answers with no policy at once, as Postfix alone would); the cache is a
// segmented LRU of Options.CacheSize domains that a flood of one-shot domains cannot
// empty of the policies in use; a policy keeps at most MaxPatterns distinct mx
// patterns (the first ones; still enforced); the Postfix answer is rendered once per
// fetch, so a lookup does not cost more with a long policy.
//
// # Postfix mapping
//
// PostfixPolicy maps mode "enforce" to "secure match=PATTERNS servername=hostname",
// each mx pattern a match pattern ("*.example.net" becomes ".example.net"). Postfix's
// ".example.net" matches subdomains at any depth while MTA-STS's "*.example.net" matches
// exactly one label (4.1), so the Postfix rule is slightly looser than the policy; and
// Postfix checks the certificate names against the patterns, not the MX host name
// itself. Modes "testing" and "none" map to "" (no rule: NOTFOUND).
package mtasts
