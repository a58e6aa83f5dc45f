package mtasts

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoRecord is ParseTXT's error when no record begins with "v=STSv1;".
var ErrNoRecord = errors.New("mtasts: no MTA-STS TXT record")

// stsPrefix starts every MTA-STS TXT record (RFC 8461 3.1: "records that do not begin
// with "v=STSv1;" are discarded").
const stsPrefix = "v=STSv1;"

// maxIDLen bounds the id: sts-id = %s"id=" 1*32(ALPHA / DIGIT) (3.1).
const maxIDLen = 32

// ParseTXT picks the MTA-STS record out of the TXT records of "_mta-sts.DOMAIN" (each
// string one record, its character-strings already joined, 3.1) and returns its id.
// Records not beginning with "v=STSv1;" are ignored; none left is ErrNoRecord, more than
// one or an invalid one is an error too: either way the domain has no available policy.
func ParseTXT(records []string) (string, error) {
	var sts []string
	for _, r := range records {
		if strings.HasPrefix(r, stsPrefix) {
			sts = append(sts, r)
		}
	}
	switch len(sts) {
	case 0:
		return "", ErrNoRecord
	case 1:
		return parseRecord(sts[0])
	}
	return "", fmt.Errorf("mtasts: %d MTA-STS TXT records, want one", len(sts))
}

// parseRecord parses sts-text-record = sts-version 1*(sts-field-delim sts-field)
// [sts-field-delim], sts-field-delim = *WSP ";" *WSP (3.1), and returns its id.
func parseRecord(r string) (string, error) {
	fields := strings.Split(strings.TrimPrefix(r, "v=STSv1"), ";")[1:]
	if last := len(fields) - 1; strings.Trim(fields[last], " \t") == "" {
		fields = fields[:last] // the optional trailing delimiter
	}
	id := ""
	for _, f := range fields {
		name, value, err := parseField(strings.Trim(f, " \t"))
		if err != nil {
			return "", fmt.Errorf("mtasts: TXT record %q: %w", truncate(r), err)
		}
		if name != "id" {
			continue // sts-extension: ignored
		}
		if id != "" {
			return "", fmt.Errorf("mtasts: TXT record %q: id given twice", truncate(r))
		}
		id = value
	}
	if id == "" {
		return "", fmt.Errorf("mtasts: TXT record %q has no id", truncate(r))
	}
	return id, nil
}

// parseField parses sts-id or sts-extension (3.1).
func parseField(f string) (name, value string, err error) {
	name, value, ok := strings.Cut(f, "=")
	switch {
	case !ok:
		return "", "", fmt.Errorf("field %q is not name=value", truncate(f))
	case name == "id":
		if !validID(value) {
			return "", "", fmt.Errorf("id %q is not 1 to 32 letters and digits", truncate(value))
		}
	case !validKey(name) || !validExtValue(value):
		return "", "", fmt.Errorf("invalid field %q", truncate(f))
	}
	return name, value, nil
}

func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isAlnum(id[i]) {
			return false
		}
	}
	return true
}

// validExtValue: sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E), printable ASCII but
// "=", ";" and space (3.1).
func validExtValue(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x21 || c > 0x7e || c == '=' || c == ';' {
			return false
		}
	}
	return true
}
