package policy

import (
	"fmt"
	"strings"
)

// OutboundPolicy is the smtp_tls_policy_maps answer for a rule, in Postfix's
// syntax: OutboundTLS when set; otherwise "encrypt" when RequireTLS, with
// " protocols=>=TLSv1.2" (Postfix >= 3.6 syntax) when MinTLSVersion is set;
// otherwise "" — no answer, NOTFOUND, and Postfix's own default applies.
//
// min_cipher_bits has no equivalent in the policy table and is inbound only.
func (s Settings) OutboundPolicy() string {
	if s.OutboundTLS != "" {
		return s.OutboundTLS
	}
	if s.RequireTLS == nil || !*s.RequireTLS {
		return ""
	}
	if s.MinTLSVersion == "" {
		return "encrypt"
	}
	return "encrypt protocols=>=" + s.MinTLSVersion
}

// tlsLevelAttrs says which attributes each Postfix TLS security level takes
// (smtp/smtp_tls_policy.c): "match" only where a certificate is matched,
// "tafile" only with CA-based trust, nothing at all with "none".
func tlsLevelAttrs(level string) (attrs []string, ok bool) {
	common := []string{"ciphers", "protocols", "exclude", "servername", "connection_reuse", "enable_rpk"}
	switch level {
	case "none":
		return nil, true
	case "may", "encrypt", "dane", "dane-only":
		return common, true
	case "fingerprint":
		return append(common, "match"), true
	case "verify", "secure":
		return append(common, "match", "tafile"), true
	}
	return nil, false
}

// checkOutboundTLS checks a policy the way Postfix will read it: a known
// security level, then name=value attributes separated by white space or
// commas. It also keeps out what would corrupt the socketmap answer.
func checkOutboundTLS(p string) error {
	if p == "" {
		return nil
	}
	if strings.ContainsFunc(p, func(r rune) bool { return (r < 0x20 || r > 0x7e) && r != '\t' || r == '{' || r == '}' }) {
		return fmt.Errorf("%q: only printable ASCII without braces is allowed", p)
	}
	words := strings.FieldsFunc(p, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
	if len(words) == 0 {
		return fmt.Errorf("%q has no security level", p)
	}
	level := strings.ToLower(words[0])
	allowed, ok := tlsLevelAttrs(level)
	if !ok {
		return fmt.Errorf("%q is not a Postfix TLS security level (none, may, encrypt, dane, dane-only, fingerprint, verify, secure)", words[0])
	}
	for _, w := range words[1:] {
		if err := checkTLSAttr(level, w, allowed); err != nil {
			return err
		}
	}
	return nil
}

func checkTLSAttr(level, word string, allowed []string) error {
	name, value, ok := strings.Cut(word, "=")
	switch {
	case !ok || name == "":
		return fmt.Errorf("%q is not a name=value attribute", word)
	case !containsFold(allowed, name):
		if len(allowed) == 0 {
			return fmt.Errorf("security level %q takes no attributes (%q)", level, word)
		}
		return fmt.Errorf("attribute %q is not valid at security level %q (valid: %s)", name, level, strings.Join(allowed, ", "))
	case value == "":
		return fmt.Errorf("attribute %q has an empty value", name)
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
