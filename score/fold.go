package score

import "strings"

// foldWidth is where SpamAssassin folds its header fields (fold_headers,
// on by default).
const foldWidth = 79

// fold folds a field's value as SpamAssassin's _process_header does, so that
// the result matches its output byte for byte: the whole "Name: value" line
// is wrapped at 79 columns after a space or a comma, continuation lines
// start with a tab, and the value part is returned.
func fold(name, value string) string {
	// SpamAssassin wraps "Name!!value" rather than "Name: value" so that the
	// space after the colon is no break point; the width is the same.
	wrapped := wrap(name + "!!" + value)
	wrapped = dropBlankLines(wrapped)
	_, v, _ := strings.Cut(wrapped, "!!")
	return v
}

// wrap is a port of Mail::SpamAssassin::Util::wrap(string, "\t", "", 79, 0,
// '(?<=[\s,])'). It is kept close to the original, quirks included (a
// piece that starts a line is taken whatever its length), since the point
// is identical output.
func wrap(s string) string {
	arr := splitAfterBreaks(s)
	pos, midLine := 0, false
	for len(arr)-1 > pos {
		n := width(arr[pos])
		if midLine {
			n += width(arr[pos+1])
		}
		if n <= foldWidth {
			arr[pos] += arr[pos+1]
			arr = append(arr[:pos+1], arr[pos+2:]...)
			midLine = true
			continue
		}
		arr[pos] = strings.TrimRight(arr[pos], perlSpace)
		pos++
		midLine = false
		arr = append(arr[:pos], append([]string{"\t"}, arr[pos:]...)...)
	}
	return strings.Join(arr, "\n")
}

// perlSpace is what Perl's \s matches in a byte string.
const perlSpace = " \t\n\r\f\v"

// splitAfterBreaks does what Perl's split(/((?<=[\s,]))/, s) does: cut
// after every space or comma, with the (empty) captured separator kept as
// an element of its own. The empty elements matter to wrap: they decide
// when a line's first piece is taken without a length check.
func splitAfterBreaks(s string) []string {
	var arr []string
	start := 0
	for i := 1; i < len(s); i++ {
		if strings.IndexByte(perlSpace+",", s[i-1]) >= 0 {
			arr = append(arr, s[start:i], "")
			start = i
		}
	}
	if start < len(s) {
		arr = append(arr, s[start:])
	}
	return arr
}

// width counts a tab as eight columns, as wrap does.
func width(s string) int {
	return len(s) + 7*strings.Count(s, "\t")
}

// dropBlankLines removes whitespace-only lines but the last, like
// SpamAssassin's s/^\s*\n//gm after wrapping (bug 7672).
func dropBlankLines(s string) string {
	lines := strings.Split(s, "\n")
	kept := lines[:0]
	for i, l := range lines {
		if i < len(lines)-1 && strings.Trim(l, perlSpace) == "" {
			continue
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, "\n")
}
