package socketmap

import (
	"fmt"
)

// Reply statuses of socketmap_table(5), "REPLY FORMAT".
const (
	StatusOK       = "OK"
	StatusNotFound = "NOTFOUND"
	StatusTemp     = "TEMP"
	StatusTimeout  = "TIMEOUT"
	StatusPerm     = "PERM"
)

// MaxReplySize is the longest reply Postfix accepts, netstring framing not included
// (socketmap_table(5); not configurable in Postfix).
const MaxReplySize = 100000

// Reply is the answer to one lookup. Value is the data for StatusOK and the reason for
// the failures; it is ignored for StatusNotFound.
type Reply struct {
	Status string
	Value  string
}

// OK is the reply for a key found with value v.
func OK(v string) Reply { return Reply{Status: StatusOK, Value: v} }

// NotFound is the reply for a key that is not in the map.
func NotFound() Reply { return Reply{Status: StatusNotFound} }

// Temp is a temporary failure: Postfix defers the work and retries later.
func Temp(reason string) Reply { return Reply{Status: StatusTemp, Value: reason} }

// Timeout is a temporary failure because the lookup took too long.
func Timeout(reason string) Reply { return Reply{Status: StatusTimeout, Value: reason} }

// Perm is a permanent failure, for example a map name the server does not know.
func Perm(reason string) Reply { return Reply{Status: StatusPerm, Value: reason} }

// payload renders r as Postfix reads it: "STATUS VALUE", with the space also after
// NOTFOUND ("NOTFOUND <space>" in socketmap_table(5)). It fails for an unknown status
// and for a payload longer than MaxReplySize.
func (r Reply) payload() (string, error) {
	switch r.Status {
	case StatusOK, StatusTemp, StatusTimeout, StatusPerm:
	case StatusNotFound:
		return StatusNotFound + " ", nil
	default:
		return "", fmt.Errorf("unknown reply status %q", r.Status)
	}
	p := r.Status + " " + r.Value
	if len(p) > MaxReplySize {
		return "", fmt.Errorf("%s reply of %d bytes exceeds Postfix's limit of %d", r.Status, len(p), MaxReplySize)
	}
	return p, nil
}
