package recipients

import (
	"errors"
	"strconv"
)

// ErrUnavailable is matched (errors.Is) by every error of Check and
// Healthy: the directory could not be asked, so the answer is not known.
var ErrUnavailable = errors.New("recipients: LDAP unavailable")

// Status is the verdict on one recipient.
type Status int

const (
	// Known: the address exists; accept it.
	Known Status = iota
	// Unknown: one of our domains, but no such address; reject it with 5.1.1.
	Unknown
	// NotOurs: the domain is not validated here; the validator has no opinion.
	NotOurs
)

func (s Status) String() string {
	switch s {
	case Known:
		return "known"
	case Unknown:
		return "unknown"
	case NotOurs:
		return "not-ours"
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Result is the verdict with where it came from, for the log.
type Result struct {
	Status Status
	// Source is "table FILE:LINE" or "ldap DN" for Known, "" otherwise.
	Source string
	// Cached is true when the LDAP answer came from the cache.
	Cached bool
}
