package greylist

import "strings"

// unBATV strips a BATV tag from a lower-case local part
// (draft-levine-smtp-batv-01 and what is seen in the wild):
//
//	prvs=KDDDSSSSSS=user     the draft's form (also msprvs1=, Microsoft)
//	prvs=user=KDDDSSSSSS     older implementations put the tag last
//	prvs=user/KDDDSSSSSS     another early form
//	btv1==TAG==user          Barracuda
//
// The tag changes with every message, so without this each message would
// be a new triplet.
func unBATV(local string) string {
	if rest, ok := strings.CutPrefix(local, "btv1=="); ok {
		if _, user, ok := strings.Cut(rest, "=="); ok && user != "" {
			return user
		}
		return local
	}
	for _, p := range []string{"prvs=", "msprvs1="} {
		if rest, ok := strings.CutPrefix(local, p); ok {
			return unPRVS(local, rest)
		}
	}
	return local
}

// unPRVS finds the user in the part after "prvs=": next to the part that
// looks like a tag.
func unPRVS(local, rest string) string {
	if tag, user, ok := strings.Cut(rest, "="); ok && isBATVTag(tag) && user != "" {
		return user
	}
	if user, tag, ok := cutLast(rest, "="); ok && isBATVTag(tag) && user != "" {
		return user
	}
	if user, tag, ok := cutLast(rest, "/"); ok && isBATVTag(tag) && user != "" {
		return user
	}
	return local
}

// isBATVTag is K (key number) DDD (day) SSSSSS (hash): ten characters,
// letters and digits. Microsoft's msprvs1 tags are longer, so accept
// 8 to 32.
func isBATVTag(s string) bool {
	if len(s) < 8 || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// unSRS undoes Sender Rewriting Scheme forwarding on a lower-case local
// part:
//
//	srs0=HASH=TT=orig-domain=orig-user           (after srs0 also + or -)
//	srs1=HASH=first-forwarder==HASH=TT=orig-domain=orig-user
//
// The forwarder's domain is dropped with the rewriting: the triplet is the
// original sender, as seen again when the forwarder retries.
func unSRS(local string) (user, domain string, ok bool) {
	var rest string
	switch {
	case len(local) > 5 && strings.HasPrefix(local, "srs0") && strings.ContainsRune("=+-", rune(local[4])):
		rest = local[5:]
	case len(local) > 5 && strings.HasPrefix(local, "srs1") && strings.ContainsRune("=+-", rune(local[4])):
		_, r, found := strings.Cut(local[5:], "==")
		if !found {
			return "", "", false
		}
		rest = r
	default:
		return "", "", false
	}
	parts := strings.SplitN(rest, "=", 4) // HASH, TT, domain, user (which may hold "=")
	if len(parts) != 4 || parts[2] == "" || parts[3] == "" {
		return "", "", false
	}
	return parts[3], parts[2], true
}
