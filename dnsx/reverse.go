package dnsx

import (
	"net/netip"
	"strconv"
)

// reverseName returns the PTR owner of addr without its trailing dot:
// "4.3.2.1.in-addr.arpa" or the 32 nibbles under "ip6.arpa". An IPv4-mapped
// IPv6 address is looked up as IPv4, as net.Resolver does.
func reverseName(addr netip.Addr) string {
	addr = addr.Unmap()
	if addr.Is4() {
		b := addr.As4()
		buf := make([]byte, 0, len("255.255.255.255.in-addr.arpa"))
		for i := len(b) - 1; i >= 0; i-- {
			buf = strconv.AppendUint(buf, uint64(b[i]), 10)
			buf = append(buf, '.')
		}
		return string(append(buf, "in-addr.arpa"...))
	}
	const hexDigits = "0123456789abcdef"
	b := addr.As16()
	buf := make([]byte, 0, 64+len("ip6.arpa"))
	for i := len(b) - 1; i >= 0; i-- {
		buf = append(buf, hexDigits[b[i]&0xf], '.', hexDigits[b[i]>>4], '.')
	}
	return string(append(buf, "ip6.arpa"...))
}
