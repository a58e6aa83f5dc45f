// Package policy holds spamgate's per-recipient rules: which recipients
// demand encrypted transport (inbound at RCPT, and outbound through
// Postfix's smtp_tls_policy_maps), and the per-recipient knobs of the other
// checks (greylisting, DNSBL threshold, SPF, DMARC, spam levels, whitelist).
//
// Rules come from the [[policy.rule]] entries of the configuration file and
// from Postfix-style table files that a hosting panel may generate. A built
// Policy never changes; a reload builds a new one and swaps it whole, so a
// transaction never sees half a policy.
//
// # Which rule applies to a recipient
//
// For each recipient, spamgate tries these keys in turn, most specific
// first, as Postfix does for access tables (check_recipient_access):
//
//  1. the full address, user+ext@example.org (upper and lower case are
//     the same);
//  2. the address without its extension, user@example.org (the extension
//     is what follows the first "+" of the local part, as with Postfix's
//     recipient_delimiter = +);
//  3. the domain, example.org;
//  4. the parent domains, closest first: for a@x.sub.example.org the keys
//     .sub.example.org, then .example.org, then .org. A key that starts
//     with a dot matches subdomains only: .example.org does not match
//     user@example.org (write both keys to cover both);
//  5. the default, *.
//
// Several rules may share a key when they carry conditions (sender=,
// client_network=). At a key, the rules are tried in the order they were
// written — the configuration file's rules first, then the table files in
// the order they are listed, each from top to bottom — and the first rule
// whose conditions all hold wins. When no rule at a key holds, the search
// goes on with the next, less specific key. When no key matches, no rule
// applies and the global settings of the configuration are used.
//
// Only one rule applies. Its settings are laid over the global settings;
// a setting the rule leaves out comes from the global settings, never from
// a less specific rule (a rule for example.org that only sets
// greylist=never does not inherit require_tls from a rule for *).
//
// Domains are compared without regard to case, and an internationalized
// domain may be written in UTF-8 (bücher.example) or in its ASCII form
// (xn--bcher-kva.example): both are the same key.
//
// Conditions:
//
//   - sender=user@example.com matches that envelope sender (and
//     user+ext@example.com); sender=example.com matches any sender in that
//     domain; sender=.example.com any sender in its subdomains;
//     sender=<> the null sender of bounces.
//   - client_network=192.0.2.0/24 (or a single address) matches clients
//     connecting from that network.
//
// For outbound mail (Postfix asking for the TLS policy of a next-hop
// domain), only rules without conditions count, and only domain, parent
// domain and * keys: the sender and client of a queued message are not part
// of Postfix's question. Mind the default: a * rule with require_tls=yes
// makes Postfix deliver all outbound mail over TLS only ("encrypt"), unless
// it also says outbound_tls=may.
//
// # Table files
//
// A table file is written like a Postfix access table:
//
//	# customer 4711: encrypted transport only (GDPR Art. 32)
//	example.org        require_tls=yes, min_tls_version=TLSv1.2
//	.example.org       require_tls=yes
//	partner.example    require_tls=yes
//	    outbound_tls="secure match=.partner.example"
//
// Lines starting with # are comments; blank lines are ignored; a line
// starting with white space continues the entry above it. Each entry is a
// key and name=value settings separated by commas and/or white space. A
// value holding spaces is written in double quotes. The names are those of
// [[policy.rule]] in the configuration (require_tls, min_tls_version,
// min_cipher_bits, tls_reply, reply_text, outbound_tls, skip,
// dnsbl_threshold, spf_reject_fail, greylist, dmarc_enforce, tag_level,
// kill_level) plus the conditions sender= and client_network=. Booleans are
// yes/no (or true/false). A file with a bad line is rejected whole, with
// the file name and line number, and the policy in force stays.
//
// # TLS requirements
//
// min_tls_version and min_cipher_bits apply only to recipients that
// require TLS: a recipient that also takes cleartext is not made to refuse
// a weak TLS session, which would only push senders to cleartext. Postfix
// passes the TLS facts in the {tls_version}, {cipher} and {cipher_bits}
// macros, which its default milter_helo_macros include; a session whose
// macros are missing counts as cleartext.
package policy
