package dnscheck

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"spamgate/config"
	"spamgate/dkim"
	"spamgate/dmarc"
	"spamgate/dnsx"
	"spamgate/spf"
)

// lookupError is the row for a lookup that neither answered nor said "no such
// record". A temporary failure says so, because the zone may well be fine and
// the right move is to rerun, not to edit DNS.
func lookupError(name, qtype, host string, err error) Check {
	if dnsx.IsTemporary(err) {
		return Check{name, Fail, fmt.Sprintf("temporary DNS failure on %s %s (%v); retry later", qtype, host, err)}
	}
	return Check{name, Fail, fmt.Sprintf("%s %s: %v", qtype, host, err)}
}

// records keeps the TXT strings that are of one kind (SPF, DMARC): receivers
// discard the others, so only these count towards "none" and "several".
func records(txts []string, is func(string) bool) []string {
	var out []string
	for _, t := range txts {
		if is(t) {
			out = append(out, t)
		}
	}
	return out
}

// isSPF follows RFC 7208 4.5: "v=spf1", any case, then a space or the end.
func isSPF(txt string) bool {
	return len(txt) >= 6 && strings.EqualFold(txt[:6], "v=spf1") && (len(txt) == 6 || txt[6] == ' ')
}

// isDMARC follows RFC 9989 4.7: the first tag must be v=DMARC1 (case-sensitive).
func isDMARC(txt string) bool {
	first, _, _ := strings.Cut(txt, ";")
	k, v, ok := strings.Cut(first, "=")
	return ok && strings.TrimSpace(k) == "v" && strings.TrimSpace(v) == "DMARC1"
}

func checkSPF(ctx context.Context, r Resolver, domain string) Check {
	const name = "SPF"
	txts, err := r.LookupTXT(ctx, domain)
	if err != nil && !dnsx.IsNotFound(err) {
		return lookupError(name, "TXT", domain, err)
	}
	recs := records(txts, isSPF)
	switch {
	case len(recs) == 0:
		return Check{name, Fail, "no SPF record (TXT \"v=spf1 …\") at " + domain}
	case len(recs) > 1:
		// Receivers must treat this as permerror: as bad as having none.
		return Check{name, Fail, fmt.Sprintf("%d SPF records at %s; receivers give permerror (RFC 7208 4.5)", len(recs), domain)}
	}
	if _, err := spf.Parse(recs[0]); err != nil {
		return Check{name, Fail, fmt.Sprintf("%q does not parse: %v", recs[0], err)}
	}
	return Check{name, Pass, recs[0]}
}

// checkDKIM gives one row per key of domain. Keys of other domains are
// skipped so the caller can pass the whole configured list.
func checkDKIM(ctx context.Context, r Resolver, domain string, keys []config.DKIMKey) []Check {
	var out []Check
	for _, k := range keys {
		if strings.EqualFold(strings.TrimSuffix(k.Domain, "."), domain) {
			out = append(out, checkDKIMKey(ctx, r, domain, k))
		}
	}
	if len(out) == 0 {
		return []Check{{"DKIM", Skip, "no [[dkim.key]] configured for " + domain + " (see -config)"}}
	}
	return out
}

func checkDKIMKey(ctx context.Context, r Resolver, domain string, k config.DKIMKey) Check {
	name := "DKIM " + k.Selector
	host := k.Selector + "._domainkey." + domain
	key, err := dkim.LoadKey(k.File, k.Domain, k.Selector)
	if err != nil {
		return Check{name, Fail, "cannot read our key: " + err.Error()}
	}
	ours, err := dkim.DNSRecord(key.Signer.Public())
	if err != nil {
		return Check{name, Fail, err.Error()}
	}
	ourTags, _ := dkim.ParseTagList(ours) // our own output: always parses
	txts, err := r.LookupTXT(ctx, host)
	if dnsx.IsNotFound(err) {
		return Check{name, Fail, fmt.Sprintf("no key record at %s; \"spamgate dkim dns -domain %s -selector %s -key %s\" prints it",
			host, domain, k.Selector, k.File)}
	}
	if err != nil {
		return lookupError(name, "TXT", host, err)
	}
	if len(txts) != 1 {
		// Verifiers refuse to choose between several key records.
		return Check{name, Fail, fmt.Sprintf("%d TXT records at %s; verifiers need exactly one", len(txts), host)}
	}
	return judgeKey(name, host, txts[0], ourTags, key.Signer.Public(), k.File)
}

// judgeKey compares a published key record with ours. The p= values are
// compared rather than the whole record, since a record may carry other tags
// (t=, h=, n=) and spacing of its own.
func judgeKey(name, host, published string, ours map[string]string, pub crypto.PublicKey, file string) Check {
	tags, err := dkim.ParseTagList(published)
	if err != nil {
		return Check{name, Fail, fmt.Sprintf("key record at %s does not parse: %v", host, err)}
	}
	if v, ok := tags["v"]; ok && v != "DKIM1" {
		return Check{name, Fail, fmt.Sprintf("key record at %s has v=%s, not DKIM1", host, v)}
	}
	p, ok := tags["p"]
	p = strings.Join(strings.Fields(p), "") // FWS inside p= is allowed (RFC 6376 3.6.1)
	switch {
	case !ok:
		return Check{name, Fail, "key record at " + host + " has no p="}
	case p == "":
		return Check{name, Fail, "key at " + host + " is revoked (empty p=)"}
	case p != ours["p"] && !samePKCS1(p, pub):
		return Check{name, Fail, fmt.Sprintf("p= at %s (…%s) is not our key in %s (…%s)", host, tail(p), file, tail(ours["p"]))}
	}
	// A matching p= under the wrong k= still fails: an ed25519 key read as rsa.
	if kt := cmpOr(tags["k"], "rsa"); !strings.EqualFold(kt, ours["k"]) {
		return Check{name, Fail, fmt.Sprintf("key record at %s says k=%s, our key is %s", host, kt, ours["k"])}
	}
	return Check{name, Pass, fmt.Sprintf("%s matches %s (k=%s)", host, file, ours["k"])}
}

// samePKCS1 accepts an RSA key published as a bare PKCS#1 RSAPublicKey,
// which some key tools emit and verifiers accept, instead of the
// SubjectPublicKeyInfo we would publish.
func samePKCS1(p string, pub crypto.PublicKey) bool {
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return false
	}
	got, err := x509.ParsePKCS1PublicKey(der)
	return err == nil && got.Equal(pub)
}

// tail is the end of a base64 key: RSA keys of one size share their first
// thirty-odd characters, so only the end tells two apart.
func tail(s string) string {
	return s[max(0, len(s)-12):]
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// maxDMARCWalk bounds the walk up the tree, as RFC 9989 4.10 bounds its own.
const maxDMARCWalk = 8

// checkDMARC finds the policy receivers would apply to domain: its own
// record, else the first one up the tree (RFC 9989 4.10), stopping short of
// the top-level domain.
func checkDMARC(ctx context.Context, r Resolver, domain string) Check {
	const name = "DMARC"
	d := domain
	for range maxDMARCWalk {
		host := "_dmarc." + d
		txts, err := r.LookupTXT(ctx, host)
		if err != nil && !dnsx.IsNotFound(err) {
			return lookupError(name, "TXT", host, err)
		}
		switch recs := records(txts, isDMARC); len(recs) {
		case 0:
		case 1:
			return judgeDMARC(host, d != domain, recs[0])
		default:
			return Check{name, Fail, fmt.Sprintf("%d DMARC records at %s; receivers apply no policy", len(recs), host)}
		}
		_, parent, ok := strings.Cut(d, ".")
		if !ok || !strings.Contains(parent, ".") {
			break
		}
		d = parent
	}
	return Check{name, Fail, "no DMARC record at _dmarc." + domain}
}

func judgeDMARC(host string, inherited bool, txt string) Check {
	const name = "DMARC"
	rec, err := dmarc.ParseRecord(txt)
	if err != nil {
		return Check{name, Fail, fmt.Sprintf("%q at %s: %v", txt, host, err)}
	}
	where := ""
	if inherited {
		where = " (from " + host + ")"
	}
	if len(rec.RUA) == 0 {
		// Valid, but without aggregate reports nobody sees spoofing or a
		// broken signer, which is what the record is for.
		return Check{name, Warn, fmt.Sprintf("p=%s without rua=: no aggregate reports%s", rec.Policy, where)}
	}
	return Check{name, Pass, fmt.Sprintf("p=%s rua=%s%s", rec.Policy, strings.Join(rec.RUA, ","), where)}
}

func checkMX(ctx context.Context, r Resolver, domain string) Check {
	const name = "MX"
	mxs, err := r.LookupMX(ctx, domain)
	if dnsx.IsNotFound(err) || err == nil && len(mxs) == 0 {
		return Check{name, Fail, "no MX record at " + domain + ": bounces and replies have nowhere to go"}
	}
	if err != nil {
		return lookupError(name, "MX", domain, err)
	}
	if len(mxs) == 1 && mxs[0].Host == "." {
		return Check{name, Fail, "null MX (RFC 7505) at " + domain + ": it accepts no mail, not even bounces"}
	}
	hosts := make([]string, len(mxs))
	for i, mx := range mxs {
		hosts[i] = fmt.Sprintf("%d %s", mx.Pref, mx.Host)
	}
	return Check{name, Pass, strings.Join(hosts, ", ")}
}

// checkPTR wants a PTR name of ip that resolves back to ip: receivers that
// check reverse DNS accept only a forward-confirmed name (FCrDNS).
func checkPTR(ctx context.Context, r Resolver, ip netip.Addr) Check {
	if !ip.IsValid() {
		return Check{"PTR", Skip, "no sending IP given (-ip)"}
	}
	ip = ip.Unmap()
	name := "PTR " + ip.String()
	names, err := r.LookupAddr(ctx, ip)
	if dnsx.IsNotFound(err) || err == nil && len(names) == 0 {
		return Check{name, Fail, "no PTR record for " + ip.String()}
	}
	if err != nil {
		return lookupError(name, "PTR", ip.String(), err)
	}
	network, qtype := "ip6", "AAAA"
	if ip.Is4() {
		network, qtype = "ip4", "A"
	}
	var firstErr Check
	for _, host := range names {
		addrs, err := r.LookupIP(ctx, network, host)
		if err != nil && !dnsx.IsNotFound(err) && firstErr.Name == "" {
			firstErr = lookupError(name, qtype, host, err)
		}
		if slices.ContainsFunc(addrs, func(a netip.Addr) bool { return a.Unmap() == ip }) {
			return Check{name, Pass, fmt.Sprintf("%s, which resolves back to %s", host, ip)}
		}
	}
	// A failed forward lookup may be why nothing confirmed: say so rather
	// than call the PTR wrong.
	if firstErr.Name != "" {
		return firstErr
	}
	return Check{name, Fail, fmt.Sprintf("%s does not resolve back to %s (not forward-confirmed)", strings.Join(names, ", "), ip)}
}

// dnsx.Resolver is what the command passes.
var _ Resolver = (*dnsx.Resolver)(nil)
