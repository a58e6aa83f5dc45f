package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Error is one problem in a configuration file.
type Error struct {
	File string
	Line int    // 0 when the key is not in the file (a default that is wrong)
	Key  string // dotted key path, e.g. "dnsbl.zone.codes"
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(displayKey(e.Key))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one file, in file order where known.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// displayKey writes the N-th (0-based) entry of an array table, kept as
// "policy.rule#N" internally, the way admins count: "policy.rule[N+1]".
func displayKey(key string) string {
	i := strings.IndexByte(key, '#')
	if i < 0 {
		return key
	}
	j := i + 1
	for j < len(key) && key[j] >= '0' && key[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(key[i+1 : j])
	if err != nil {
		return key
	}
	return key[:i] + "[" + strconv.Itoa(n+1) + "]" + displayKey(key[j:])
}
