package policy

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Settings are the per-recipient knobs; nil/zero = not set by this rule (the
// global config applies). The toml tags are the names admins write, in
// [[policy.rule]] and in table files alike.
type Settings struct {
	RequireTLS     *bool    `toml:"require_tls,omitempty"`
	MinTLSVersion  string   `toml:"min_tls_version,omitempty"` // "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3" (OpenSSL spelling, as Postfix's {tls_version} macro)
	MinCipherBits  int      `toml:"min_cipher_bits,omitempty"`
	TLSReply       int      `toml:"tls_reply,omitempty"`    // 550 (default) or 450 (soft rollout)
	ReplyText      string   `toml:"reply_text,omitempty"`   // replaces the text of a TLS refusal (the code and 5.7.10 stay)
	OutboundTLS    string   `toml:"outbound_tls,omitempty"` // Postfix TLS policy for this domain as next hop; "" = derived (see OutboundPolicy)
	Skip           *bool    `toml:"skip,omitempty"`         // whitelist: no spam checks for this recipient (TLS requirement still applies)
	DNSBLThreshold *float64 `toml:"dnsbl_threshold,omitempty"`
	SPFRejectFail  *bool    `toml:"spf_reject_fail,omitempty"`
	Greylist       string   `toml:"greylist,omitempty"` // "suspicious", "always", "never"
	DMARCEnforce   *bool    `toml:"dmarc_enforce,omitempty"`
	TagLevel       *float64 `toml:"tag_level,omitempty"`
	KillLevel      *float64 `toml:"kill_level,omitempty"`
}

// Merge returns s with every field that over sets replaced by over's value:
// a rule laid over the defaults.
func (s Settings) Merge(over Settings) Settings {
	pick(&s.RequireTLS, over.RequireTLS)
	pick(&s.MinTLSVersion, over.MinTLSVersion)
	pick(&s.MinCipherBits, over.MinCipherBits)
	pick(&s.TLSReply, over.TLSReply)
	pick(&s.ReplyText, over.ReplyText)
	pick(&s.OutboundTLS, over.OutboundTLS)
	pick(&s.Skip, over.Skip)
	pick(&s.DNSBLThreshold, over.DNSBLThreshold)
	pick(&s.SPFRejectFail, over.SPFRejectFail)
	pick(&s.Greylist, over.Greylist)
	pick(&s.DMARCEnforce, over.DMARCEnforce)
	pick(&s.TagLevel, over.TagLevel)
	pick(&s.KillLevel, over.KillLevel)
	return s
}

// pick overwrites *dst with v when v is set (not the zero value).
func pick[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

// Validate reports every value out of range, each error prefixed with the
// setting's name. Unset fields are valid.
func (s Settings) Validate() error {
	var errs []error
	for _, name := range settingNames() {
		if err := s.check(name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if s.TagLevel != nil && s.KillLevel != nil && *s.TagLevel > *s.KillLevel {
		errs = append(errs, fmt.Errorf("tag_level %g is above kill_level %g: mail would be refused before it is tagged", *s.TagLevel, *s.KillLevel))
	}
	return errors.Join(errs...)
}

// settingNames are the names Set knows, in the order of the struct; the
// conditions sender and client_network are not settings.
func settingNames() [13]string {
	return [...]string{
		"require_tls", "min_tls_version", "min_cipher_bits", "tls_reply",
		"reply_text", "outbound_tls", "skip", "dnsbl_threshold",
		"spf_reject_fail", "greylist", "dmarc_enforce", "tag_level", "kill_level",
	}
}

// check validates the one field called name.
func (s Settings) check(name string) error {
	switch name {
	case "min_tls_version":
		return checkTLSVersion(s.MinTLSVersion)
	case "min_cipher_bits":
		return checkCipherBits(s.MinCipherBits)
	case "tls_reply":
		return checkTLSReply(s.TLSReply)
	case "reply_text":
		return checkReplyText(s.ReplyText)
	case "outbound_tls":
		return checkOutboundTLS(s.OutboundTLS)
	case "greylist":
		return checkGreylist(s.Greylist)
	case "dnsbl_threshold":
		return checkThreshold(s.DNSBLThreshold)
	case "tag_level":
		return checkFinite(s.TagLevel)
	case "kill_level":
		return checkFinite(s.KillLevel)
	}
	return nil // booleans cannot be out of range
}

func checkTLSVersion(v string) error {
	known := knownVersions()
	if v == "" || slices.Contains(known[:], v) {
		return nil
	}
	return fmt.Errorf("%q is not one of %s", v, strings.Join(known[:], ", "))
}

// checkCipherBits catches the usual mistake of writing the certificate's key
// size: Postfix's {cipher_bits} is the symmetric key size.
func checkCipherBits(n int) error {
	if n < 0 || n > 256 {
		return fmt.Errorf("%d is not between 0 and 256 (the symmetric cipher's key size, e.g. 128 or 256, not the certificate's)", n)
	}
	return nil
}

func checkTLSReply(n int) error {
	if n == 0 || n == 450 || n == 550 {
		return nil
	}
	return fmt.Errorf("%d is not 550 (refuse) or 450 (try again later, for a soft rollout)", n)
}

// maxReplyText keeps "550 5.7.10 <address> text" within the 512 octets
// RFC 5321 allows for a reply line.
const maxReplyText = 200

// checkReplyText refuses what could break or forge an SMTP reply: line
// breaks, control characters, and non-ASCII (not allowed without SMTPUTF8).
func checkReplyText(t string) error {
	if len(t) > maxReplyText {
		return fmt.Errorf("is %d characters long; at most %d fit in an SMTP reply", len(t), maxReplyText)
	}
	for i := 0; i < len(t); i++ {
		if t[i] < 0x20 || t[i] > 0x7e {
			return fmt.Errorf("%q: only printable ASCII is allowed in an SMTP reply", t)
		}
	}
	return nil
}

func checkGreylist(m string) error {
	switch m {
	case "", "suspicious", "always", "never":
		return nil
	}
	return fmt.Errorf("%q is not one of suspicious, always, never", m)
}

func checkThreshold(v *float64) error {
	if err := checkFinite(v); err != nil {
		return err
	}
	if v != nil && *v <= 0 {
		return fmt.Errorf("%g must be above 0", *v)
	}
	return nil
}

func checkFinite(v *float64) error {
	if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
		return fmt.Errorf("%g is not a finite number", *v)
	}
	return nil
}
