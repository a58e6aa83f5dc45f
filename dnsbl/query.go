package dnsbl

import (
	"net/netip"
	"strconv"
	"strings"
)

// hexDigits are the nibble labels of RFC 5782 section 2.4.
const hexDigits = "0123456789abcdef"

// QueryName is the DNS name to look up for ip in zone: the reversed octets
// for IPv4 ("4.3.2.1.zone"), the 32 reversed nibbles for IPv6 (RFC 5782
// section 2.4). An IPv4-mapped IPv6 address is looked up in IPv4 form, since
// that is how the client really connected. An invalid ip gives "".
func QueryName(ip netip.Addr, zone string) string {
	var buf [64]byte // 32 nibbles and their dots: the IPv6 worst case
	prefix := appendReversed(buf[:0], ip.Unmap())
	if len(prefix) == 0 {
		return ""
	}
	var b strings.Builder // one allocation, not a string(prefix) copy too
	b.Grow(len(prefix) + len(zone))
	b.Write(prefix)
	b.WriteString(zone)
	return b.String()
}

// appendReversed appends the query-name prefix for ip, ending in a dot;
// nothing for an invalid address. Callers unmap IPv4-mapped addresses.
func appendReversed(b []byte, ip netip.Addr) []byte {
	switch {
	case ip.Is4():
		a := ip.As4()
		for i := len(a) - 1; i >= 0; i-- {
			b = strconv.AppendUint(b, uint64(a[i]), 10)
			b = append(b, '.')
		}
	case ip.Is6():
		a := ip.As16()
		for i := len(a) - 1; i >= 0; i-- {
			b = append(b, hexDigits[a[i]&0x0f], '.', hexDigits[a[i]>>4], '.')
		}
	}
	return b
}
