package spamc

import (
	"errors"
	"fmt"
)

// ErrTooBig is returned, without contacting spamd, for a message larger than
// Client.MaxSize. Callers treat it as "not scanned", as spamc does.
var ErrTooBig = errors.New("spamc: message too big to scan")

// ErrProtocol is wrapped by the errors for responses that do not follow the
// protocol: garbage, a truncated answer, something that is not spamd.
var ErrProtocol = errors.New("bad spamd response")

// ResponseError is spamd's refusal: a status line with a code other than
// 0 (EX_OK), such as "SPAMD/1.0 76 Bad header line: ...".
type ResponseError struct {
	Code    int    // a sysexits.h code, e.g. 76 EX_PROTOCOL, 79 EX_TIMEOUT
	Message string // the rest of the status line
}

func (e *ResponseError) Error() string {
	// Quoted: the message is network input and goes to logs.
	return fmt.Sprintf("spamd answered %d (%s): %q", e.Code, exName(e.Code), e.Message)
}

// exName names the sysexits.h codes spamd uses.
func exName(code int) string {
	names := map[int]string{
		0: "EX_OK", 64: "EX_USAGE", 65: "EX_DATAERR", 66: "EX_NOINPUT",
		67: "EX_NOUSER", 68: "EX_NOHOST", 69: "EX_UNAVAILABLE", 70: "EX_SOFTWARE",
		71: "EX_OSERR", 72: "EX_OSFILE", 73: "EX_CANTCREAT", 74: "EX_IOERR",
		75: "EX_TEMPFAIL", 76: "EX_PROTOCOL", 77: "EX_NOPERM", 78: "EX_CONFIG",
		79: "EX_TIMEOUT",
	}
	if n, ok := names[code]; ok {
		return n
	}
	return "unknown"
}

// protocolError wraps ErrProtocol with what was wrong; args may hold a %w.
func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}
