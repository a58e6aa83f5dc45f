package policy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Set sets one setting from its text form, as written in a table file
// ("require_tls", "yes"). The name is the toml tag; the value is checked as
// Validate would, and errors name the setting.
func (s *Settings) Set(name, value string) error {
	known := settingNames()
	if !slices.Contains(known[:], name) {
		return fmt.Errorf("unknown setting %q (known: %s)", name, strings.Join(known[:], ", "))
	}
	if value == "" {
		return fmt.Errorf("%s: empty value", name)
	}
	next := *s
	if err := next.parse(name, value); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := next.check(name); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	*s = next // only a valid value changes s
	return nil
}

// parse stores value in the field called name, which must be known.
func (s *Settings) parse(name, v string) error {
	var err error
	switch name {
	case "require_tls":
		s.RequireTLS, err = parseBool(v)
	case "skip":
		s.Skip, err = parseBool(v)
	case "spf_reject_fail":
		s.SPFRejectFail, err = parseBool(v)
	case "dmarc_enforce":
		s.DMARCEnforce, err = parseBool(v)
	case "min_cipher_bits":
		s.MinCipherBits, err = parseInt(v)
	case "tls_reply":
		s.TLSReply, err = parseInt(v)
	case "dnsbl_threshold":
		s.DNSBLThreshold, err = parseFloat(v)
	case "tag_level":
		s.TagLevel, err = parseFloat(v)
	case "kill_level":
		s.KillLevel, err = parseFloat(v)
	case "min_tls_version":
		s.MinTLSVersion = v
	case "reply_text":
		s.ReplyText = v
	case "outbound_tls":
		s.OutboundTLS = v
	case "greylist":
		s.Greylist = v
	}
	return err
}

// parseBool takes the spellings admins use in Postfix and TOML files alike.
func parseBool(v string) (*bool, error) {
	var b bool
	switch strings.ToLower(v) {
	case "yes", "true", "on", "1":
		b = true
	case "no", "false", "off", "0":
		b = false
	default:
		return nil, fmt.Errorf("%q is not yes or no", v)
	}
	return &b, nil
}

func parseInt(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", v)
	}
	return n, nil
}

func parseFloat(v string) (*float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, fmt.Errorf("%q is not a number", v)
	}
	return &f, nil // ±Inf from ErrRange is refused by the range check
}
