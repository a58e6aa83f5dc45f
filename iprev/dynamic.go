package iprev

import (
	"net/netip"
	"strconv"
	"strings"
)

// Dynamic reports why name looks like the reverse name of an end-user
// address pool rather than a mail server, or "" when it does not. Two signs
// count, the ones postgrey's and SpamAssassin's RDNS_DYNAMIC heuristics
// rely on: the address itself written into the name (two or more of its
// octets, in either order, in decimal or hex), and words such as "dsl" or
// "dyn" as parts of the name below the registered domain.
func Dynamic(name string, addr netip.Addr, words []string) string {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if name == "" {
		return ""
	}
	if addr.Is4() && holdsAddress(name, addr.As4()) {
		return "address in name"
	}
	host := hostPart(name)
	for _, tok := range tokens(host) {
		for _, w := range words {
			if tok == w {
				return "word " + strconv.Quote(w) + " in name"
			}
		}
	}
	return ""
}

// hostPart drops the last two labels (roughly the registered domain), so
// that a provider called "cable.example" does not make all of its names,
// its mail servers' included, look dynamic.
func hostPart(name string) string {
	labels := strings.Split(name, ".")
	if len(labels) <= 2 {
		return ""
	}
	return strings.Join(labels[:len(labels)-2], ".")
}

// tokens splits a name into its alphabetic runs: "adsl-dyn42.pool" gives
// adsl, dyn, pool.
func tokens(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r < 'a' || r > 'z' })
}

// holdsAddress finds the address's octets as separate numbers in the name:
// at least the last two octets in order (forward or reversed), in decimal
// or two-digit hex ("c0a80107").
func holdsAddress(name string, a [4]byte) bool {
	nums := strings.FieldsFunc(name, func(r rune) bool { return r < '0' || r > '9' })
	fwd := []string{strconv.Itoa(int(a[2])), strconv.Itoa(int(a[3]))}
	rev := []string{strconv.Itoa(int(a[3])), strconv.Itoa(int(a[2]))}
	if hasRun(nums, fwd) || hasRun(nums, rev) {
		return true
	}
	hex := strconv.FormatUint(uint64(a[0])<<24|uint64(a[1])<<16|uint64(a[2])<<8|uint64(a[3]), 16)
	hex = strings.Repeat("0", 8-len(hex)) + hex
	return strings.Contains(name, hex)
}

// hasRun reports whether want appears as consecutive elements of nums.
func hasRun(nums, want []string) bool {
	for i := 0; i+len(want) <= len(nums); i++ {
		match := true
		for j, w := range want {
			if nums[i+j] != w {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
