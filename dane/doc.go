// Package dane finds out whether a next-hop domain publishes DANE for SMTP
// (RFC 7672): DNSSEC-validated MX records, then DNSSEC-validated TLSA
// records at _25._tcp.MXHOST, and decides, with the other sources of an
// outbound TLS policy, which answer Postfix's smtp_tls_policy_maps gets.
//
// spamgate does not validate DNSSEC itself. It trusts the AD bit of the
// validating resolvers the admin names ([tls_policy_map]
// dnssec_nameservers), and only theirs: the ordinary [dns] resolver is
// never asked, so an answer without AD from any other server can never
// make a domain look DANE-protected.
package dane
