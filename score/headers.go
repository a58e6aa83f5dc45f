package score

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Field is one header field to add to the message.
type Field struct {
	Name, Value string
}

// Version is what X-Spam-Status says in version=: the software that scored,
// as SpamAssassin puts its own version there.
const Version = "spamgate"

// maxStars caps X-Spam-Level, as SpamAssassin's _STARS_ does.
const maxStars = 50

// Headers gives the fields to add, in SpamAssassin's format and in this
// order (X-Spam-Flag only for spam):
//
//	X-Spam-Flag: YES
//	X-Spam-Score: 5.3
//	X-Spam-Level: *****
//	X-Spam-Status: Yes, score=5.3 required=4.5 tests=NAME1,NAME2
//		autolearn=disabled version=spamgate
//
// Values longer than a line are folded with "\n\t" exactly where
// SpamAssassin folds them. X-Spam-Level is present but empty below one
// point, negative scores included, as in SpamAssassin: rules test it with
// "contains ****", so its absence would change nothing, but its presence
// tells that the message was scanned.
//
// only names the fields wanted ([score] header_fields); nil means all four.
// Each one costs Postfix a header edit of the queue file.
func (s *Sheet) Headers(l Levels, only FieldSet) []Field {
	l = l.withDefaults()
	spam := s.Verdict(l) != Ham
	score := scoreTag(s.sum(), l.Tag, spam)
	fs := make([]Field, 0, 4)
	if spam && only.has(FieldFlag) {
		fs = append(fs, Field{"X-Spam-Flag", "YES"})
	}
	if only.has(FieldScore) {
		fs = append(fs, Field{"X-Spam-Score", score})
	}
	if only.has(FieldLevel) {
		fs = append(fs, Field{"X-Spam-Level", stars(s.sum())})
	}
	if only.has(FieldStatus) {
		fs = append(fs, Field{"X-Spam-Status", s.status(spam, score, l.Tag)})
	}
	for i := range fs {
		fs[i].Value = fold(fs[i].Name, fs[i].Value)
	}
	return fs
}

// FieldSet names the X-Spam-* fields to add; the zero value means all.
type FieldSet uint8

// The fields of a FieldSet.
const (
	FieldFlag FieldSet = 1 << iota
	FieldScore
	FieldLevel
	FieldStatus
	// FieldsNone is an empty set that is not the zero value: no field.
	FieldsNone FieldSet = 1 << 7
)

// fieldNames maps the field names of [score] header_fields to the set.
var fieldNames = map[string]FieldSet{"x-spam-flag": FieldFlag, "x-spam-score": FieldScore,
	"x-spam-level": FieldLevel, "x-spam-status": FieldStatus}

// ParseFieldSet reads a [score] header_fields list (case-insensitive names).
func ParseFieldSet(names []string) (FieldSet, error) {
	set := FieldsNone
	for _, n := range names {
		f, ok := fieldNames[strings.ToLower(n)]
		if !ok {
			return 0, fmt.Errorf("%q is not X-Spam-Flag, X-Spam-Score, X-Spam-Level or X-Spam-Status", n)
		}
		set |= f
	}
	return set, nil
}

func (f FieldSet) has(x FieldSet) bool { return f == 0 || f&x != 0 }

// status is the X-Spam-Status value before folding.
func (s *Sheet) status(spam bool, score string, tag float64) string {
	yesNo := "No"
	if spam {
		yesNo = "Yes"
	}
	return yesNo + ", score=" + score + " required=" + oneDecimal(tag) +
		" tests=" + s.tests() + " autolearn=disabled version=" + Version
}

// tests is SpamAssassin's _TESTS_: names sorted bytewise (Perl's sort),
// comma-separated, "none" for none.
func (s *Sheet) tests() string {
	names := make([]string, 0, len(s.Hits))
	for _, h := range s.Hits {
		names = append(names, h.Name)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// scoreTag is SpamAssassin's _SCORE_ (Util::get_tag_value_for_score): the
// score to one decimal, except that a ham score which would print as high
// as the tag level prints 0.1 below it instead, so that no header says
// "No, score=4.5 required=4.5" (SpamAssassin bug 6419).
func scoreTag(sum, tag float64, spam bool) string {
	if spam || round(sum, 1) < round(tag, 1) {
		return oneDecimal(sum)
	}
	// Perl prints $rscore - 0.1 as a plain number (%.15g): 4.4, 9.9, 0.
	return strconv.FormatFloat(round(tag, 1)-0.1, 'g', 15, 64)
}

// oneDecimal is Perl's sprintf("%2.1f"): -0.04 prints as "-0.0", as
// SpamAssassin shows it.
func oneDecimal(x float64) string {
	return strconv.FormatFloat(x, 'f', 1, 64)
}

// stars is SpamAssassin's _STARS(*)_: one star per whole point of the
// unrounded score (4.96 gives four stars while the score prints 5.0), none
// for scores below one, at most 50.
func stars(sum float64) string {
	n := int(sum) // truncates towards zero, like Perl's int()
	return strings.Repeat("*", max(0, min(n, maxStars)))
}

// IsSpamHeader tells whether a field is one of ours (X-Spam-*, any case).
// The milter deletes such fields arriving from outside before it adds its
// own: a spammer's "X-Spam-Flag: NO" must not reach a user's Sieve rules.
func IsSpamHeader(name string) bool {
	const prefix = "x-spam-"
	return len(name) > len(prefix) && strings.EqualFold(name[:len(prefix)], prefix)
}
