package greylist

import "strings"

// NormalizeSender turns an envelope sender into the part that stays the
// same across retries and messages of one sender: lower case, without BATV
// tags (prvs=TAG=user, prvs=user/TAG, msprvs1=TAG=user, btv1==TAG==user),
// without SRS forwarding (SRS0=HASH=TT=domain=user@forwarder and SRS1,
// which become user@domain) and without a +extension. Wrappings may nest,
// so it repeats until nothing changes.
func NormalizeSender(s string) string {
	for range 8 { // each round shortens s; 8 undoes any realistic nesting
		n := normalizeSenderOnce(s)
		if n == s {
			break
		}
		s = n
	}
	return s
}

func normalizeSenderOnce(s string) string {
	s = trimAddress(s)
	local, domain, hasAt := cutLast(s, "@")
	if !hasAt {
		return stripExtension(s)
	}
	if user, orig, ok := unSRS(local); ok {
		return user + "@" + orig
	}
	return stripExtension(unBATV(local)) + "@" + domain
}

// NormalizeRcpt is the recipient in lower case without +extension.
func NormalizeRcpt(s string) string {
	s = trimAddress(s)
	local, domain, hasAt := cutLast(s, "@")
	if !hasAt {
		return stripExtension(s)
	}
	return stripExtension(local) + "@" + domain
}

// Exempt says whether a message is never greylisted: bounces (the null
// sender) since the bouncing MTA may not retry the way a sender does, and
// mail to postmaster@ or abuse@, which RFC 5321 and 2142 want delivered.
func Exempt(sender, rcpt string) bool {
	if trimAddress(sender) == "" {
		return true
	}
	local, _, _ := cutLast(NormalizeRcpt(rcpt), "@")
	return local == "postmaster" || local == "abuse"
}

// trimAddress drops blanks and the angle brackets some callers keep.
func trimAddress(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
		s = s[1 : len(s)-1]
	}
	return strings.ToLower(s)
}

// cutLast splits at the last sep: a quoted local part may contain "@".
func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// stripExtension drops "+ext" from a local part; a local part that starts
// with "+" is kept whole, it would be empty otherwise.
func stripExtension(local string) string {
	if i := strings.IndexByte(local, '+'); i > 0 {
		return local[:i]
	}
	return local
}
