package score

import "strings"

// DefaultSubjectPrefix is the tag Debian's and most SpamAssassin setups put
// before a spam's subject (rewrite_header Subject ***SPAM***).
const DefaultSubjectPrefix = "***SPAM***"

// TagSubject puts prefix and a space before subject, as SpamAssassin's
// rewrite_header Subject does: leading blanks of the subject go, and a
// prefix already there (in any case) is not doubled, so that a message
// scanned twice, or re-sent by a forwarder, keeps a single tag. A subject
// that is nothing but the prefix counts as tagged too (an MTA may have
// trimmed the space after it). An empty prefix leaves the subject alone.
func TagSubject(subject, prefix string) string {
	prefix = strings.TrimRight(strings.ReplaceAll(prefix, "\n", " "), perlSpace)
	if prefix == "" {
		return subject
	}
	rest := strings.TrimLeft(subject, " \t")
	if hasPrefixFold(rest, prefix+" ") {
		rest = rest[len(prefix)+1:]
	} else if strings.EqualFold(strings.TrimRight(rest, perlSpace), prefix) {
		rest = ""
	}
	return prefix + " " + rest
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
