package policy

import (
	"fmt"
	"strings"
)

// item is one name=value of a table entry, with the line it is on.
type item struct {
	text string
	line int
}

func isSep(c byte) bool { return c == ' ' || c == '\t' || c == ',' }

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// splitItems splits the settings part of a table line at commas and white
// space. A double-quoted stretch ("secure match=.example.org") is kept
// whole; there are no escapes, since no setting needs a quote.
func splitItems(s string, line int) ([]item, error) {
	var items []item
	for i := 0; i < len(s); {
		if isSep(s[i]) {
			i++
			continue
		}
		start := i
		for i < len(s) && !isSep(s[i]) {
			if s[i] == '"' {
				end := strings.IndexByte(s[i+1:], '"')
				if end < 0 {
					return nil, fmt.Errorf("unterminated quote in %q", s[start:])
				}
				i += end + 1
			}
			i++
		}
		items = append(items, item{s[start:i], line})
	}
	return items, nil
}

// unquote removes the quotes around a whole value; quotes anywhere else are
// a mistake.
func unquote(v string) (string, error) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && !strings.Contains(v[1:len(v)-1], `"`) {
		return v[1 : len(v)-1], nil
	}
	if strings.Contains(v, `"`) {
		return "", fmt.Errorf("%s: quotes must enclose the whole value", v)
	}
	return v, nil
}
