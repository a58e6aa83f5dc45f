package dkim

import "strings"

// HeaderLine rebuilds one header field byte-exact as the sender wrote it,
// from what a milter receives with SMFIP_HDR_LEADSPC negotiated: the name,
// and the value as sent (leading space kept) with folded lines separated by
// a bare "\n" (Postfix's convention). The result is name ":" value with each
// "\n" turned back into "\r\n", followed by "\r\n".
//
// Byte-exactness matters for c=simple (RFC 6376 section 3.4.1), where a
// single changed space breaks the signature.
func HeaderLine(name, value string) []byte {
	n := strings.Count(value, "\n")
	b := make([]byte, 0, len(name)+1+len(value)+n+2)
	return appendHeaderLine(b, name, value)
}

func appendHeaderLine(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ':')
	for {
		i := strings.IndexByte(value, '\n')
		if i < 0 {
			break
		}
		b = append(b, value[:i]...)
		b = append(b, '\r', '\n')
		value = value[i+1:]
	}
	b = append(b, value...)
	return append(b, '\r', '\n')
}

// appendSafeHeaderLine is appendHeaderLine for the verifier's input. A field that would
// change the header structure seen by go-msgauth (an empty line inside a
// value ends the header block; a line starting without white space starts a
// new field) gets a space after each such "\n", so every field stays one
// field and signature indexes cannot drift. Postfix never sends such
// values; the repair only defends against hostile or broken input.
func appendSafeHeaderLine(b []byte, name, value string) []byte {
	if !needsRepair(value) {
		return appendHeaderLine(b, name, value)
	}
	var r strings.Builder
	for i := 0; i < len(value); i++ {
		r.WriteByte(value[i])
		if value[i] == '\n' && (i+1 == len(value) || !isWSP(value[i+1])) {
			r.WriteByte(' ')
		}
	}
	return appendHeaderLine(b, name, r.String())
}

func needsRepair(value string) bool {
	for i := 0; i < len(value); i++ {
		if value[i] == '\n' && (i+1 == len(value) || !isWSP(value[i+1])) {
			return true
		}
	}
	return false
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// validFieldName reports whether name can stand as a field of its own in
// the rebuilt header block. Trailing white space is allowed ("Subject :" is
// RFC 5322 obsolete syntax that a simple signature may cover).
func validFieldName(name string) bool {
	if name == "" || isWSP(name[0]) {
		return false
	}
	return !strings.ContainsAny(name, ":\r\n")
}

// isSignatureField reports whether name is DKIM-Signature, compared the way
// go-msgauth does (case-insensitively, white space trimmed), so that our
// count of signatures and go-msgauth's always agree.
func isSignatureField(name string) bool {
	return strings.EqualFold(strings.TrimSpace(name), "DKIM-Signature")
}
