package recipients

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"spamgate/internal/domainname"
)

// maxLine bounds one line of a table file.
const maxLine = 4096

// maxErrors bounds how many problems one load reports: a generated file
// that is wrong everywhere should not flood the log.
const maxErrors = 20

// table maps lookup keys ("local@domain", "@domain") to "FILE:LINE".
type table struct {
	entries map[string]string
}

// lookup tries the address, then it without its +extension, then the
// domain's catch-all, as Postfix does; it returns the entry's FILE:LINE.
func (t *table) lookup(a address) (string, bool) {
	if t == nil {
		return "", false
	}
	keys := [3]string{a.full(), "", "@" + a.domain}
	if a.base != "" {
		keys[1] = a.base + "@" + a.domain
	}
	for _, k := range keys {
		if src, ok := t.entries[k]; k != "" && ok {
			return src, true
		}
	}
	return "", false
}

// loadTable reads and parses the table file at path.
func loadTable(path string) (*table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("recipient table: %w", err)
	}
	defer f.Close()
	return parseTable(path, f)
}

// parseTable reads a table; name is used in errors and sources. Any bad
// line fails the whole table, so that the caller keeps the one it has
// rather than rejecting mail for addresses that a typo dropped.
func parseTable(name string, r io.Reader) (*table, error) {
	t := &table{entries: map[string]string{}}
	var errs []error
	more := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), maxLine)
	line := 0
	for sc.Scan() {
		line++
		key, err := parseLine(sc.Text(), line == 1)
		switch {
		case err != nil && len(errs) < maxErrors:
			errs = append(errs, fmt.Errorf("%s:%d: %w", name, line, err))
		case err != nil:
			more++
		case key != "":
			if _, dup := t.entries[key]; !dup { // the first line is the one to show
				t.entries[key] = fmt.Sprintf("%s:%d", name, line)
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line longer than %d bytes", maxLine)
		}
		errs = append(errs, fmt.Errorf("%s:%d: %w", name, line+1, err))
	}
	if more > 0 {
		errs = append(errs, fmt.Errorf("... and %d more errors", more))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// parseLine returns the lookup key of one line, or "" for a blank or
// comment line.
func parseLine(text string, first bool) (string, error) {
	if first {
		text = strings.TrimPrefix(text, "\uFEFF") // a BOM from a Windows editor
	}
	text = strings.Trim(text, " \t\r")
	if text == "" || text[0] == '#' {
		return "", nil
	}
	if !utf8.ValidString(text) {
		return "", fmt.Errorf("%q is not UTF-8", text)
	}
	if strings.ContainsAny(text, " \t") {
		if strings.Contains(text, "#") {
			return "", fmt.Errorf("%q: a comment must be on a line of its own", text)
		}
		return "", fmt.Errorf("%q: one address per line, without white space", text)
	}
	return entryKey(text)
}

// entryKey checks an address or "@domain" and returns it in lookup form.
func entryKey(text string) (string, error) {
	at := strings.LastIndexByte(text, '@')
	if at < 0 {
		return "", fmt.Errorf("%q is neither an address (user@domain) nor a catch-all (@domain)", text)
	}
	domain, err := domainname.Normalize(text[at+1:])
	if err != nil {
		return "", fmt.Errorf("%q: %w", text, err)
	}
	if at == 0 {
		return "@" + domain, nil
	}
	local := strings.ToLower(text[:at])
	if err := checkLocal(local); err != nil {
		return "", fmt.Errorf("%q: %w", text, err)
	}
	return local + "@" + domain, nil
}
