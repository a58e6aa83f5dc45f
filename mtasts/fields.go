package mtasts

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxExtNameLen is the longest key: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
// in the grammars of RFC 8461 3.1 and 3.2.
const maxExtNameLen = 32

// parseLine parses one "key: value" line (RFC 8461 3.2: sts-policy-field-delim is ":"
// *WSP; *WSP may follow the value) into p. seen records the keys met so far.
func (p *Policy) parseLine(line string, seen map[string]bool) error {
	key, value, ok := strings.Cut(line, ":")
	if !ok {
		return fmt.Errorf("no ':' in %q", truncate(line))
	}
	if !validKey(key) {
		return fmt.Errorf("invalid key %q", truncate(key))
	}
	value = strings.Trim(value, " \t")
	if seen[key] && isKnown(key) && key != "mx" {
		return fmt.Errorf("%s given twice", key)
	}
	seen[key] = true
	return p.setField(key, value)
}

// setField stores one field; unknown keys are ignored ("unknown fields SHALL be
// ignored", 3.2), known ones must have a value of their grammar.
func (p *Policy) setField(key, value string) error {
	switch key {
	case "version":
		if value != "STSv1" {
			return fmt.Errorf("version %q, want STSv1", truncate(value))
		}
		p.Version = value
	case "mode":
		if value != ModeEnforce && value != ModeTesting && value != ModeNone {
			return fmt.Errorf("mode %q, want enforce, testing or none", truncate(value))
		}
		p.Mode = value
	case "max_age":
		return p.setMaxAge(value)
	case "mx":
		if !validPattern(value) {
			return fmt.Errorf("invalid mx %q (a domain name, \"*.\" allowed only as the leftmost label)", truncate(value))
		}
		p.MX = append(p.MX, strings.ToLower(value))
	}
	return nil
}

// setMaxAge parses sts-policy-max-age-value = 1*10(DIGIT), at most 31557600 (3.2).
func (p *Policy) setMaxAge(value string) error {
	if value == "" || len(value) > 10 || strings.Trim(value, "0123456789") != "" {
		return fmt.Errorf("max_age %q is not 1 to 10 digits", truncate(value))
	}
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil || time.Duration(n)*time.Second > MaxMaxAge {
		return fmt.Errorf("max_age %s exceeds %d", value, int64(MaxMaxAge/time.Second))
	}
	p.MaxAge = time.Duration(n) * time.Second
	return nil
}

func isKnown(key string) bool {
	return key == "version" || key == "mode" || key == "max_age" || key == "mx"
}

// validKey reports whether k is an sts-policy-ext-name (3.2), the grammar of every key.
func validKey(k string) bool {
	if k == "" || len(k) > maxExtNameLen || !isAlnum(k[0]) {
		return false
	}
	for i := 1; i < len(k); i++ {
		if c := k[i]; !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
