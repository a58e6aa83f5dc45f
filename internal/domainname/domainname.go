// Package domainname checks and normalizes domain names the way spamgate's
// lookup tables key them (policy rules, recipient tables): lower case,
// A-labels (IDNA 2008 lookup profile), no trailing dot, and labels of
// letters, digits, '-' and '_' ('_' because some internal names use it).
package domainname

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Normalize returns d in lookup form, or an error saying why it is not a
// domain name. An A-label that IDNA would rewrite is refused: written as a
// key it could never match.
func Normalize(d string) (string, error) {
	d = strings.TrimSuffix(d, ".")
	a := strings.ToLower(d)
	if !IsASCII(d) || strings.Contains(a, "xn--") {
		var err error
		if a, err = idna.Lookup.ToASCII(d); err != nil {
			return "", fmt.Errorf("%q is not a valid domain name: %w", d, err)
		}
		if IsASCII(d) && a != strings.ToLower(d) {
			return "", fmt.Errorf("%q is not a valid domain name: bad A-label", d)
		}
	}
	if err := Check(a); err != nil {
		return "", fmt.Errorf("%q is not a valid domain name: %w", d, err)
	}
	return a, nil
}

// Check applies RFC 1035 lengths and the character set above to a
// lower-case A-label name.
func Check(d string) error {
	if d == "" {
		return errors.New("empty")
	}
	if len(d) > 253 {
		return errors.New("longer than 253 characters")
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("label %q is empty or longer than 63 characters", label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("label %q has the character %q", label, c)
			}
		}
	}
	return nil
}

// IsASCII reports whether s is all ASCII (then no IDNA mapping is needed).
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
