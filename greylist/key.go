package greylist

import "strings"

// MakeKey is the normalized triplet of r. Its client part is the client's
// network ("net:192.0.2.0/24", "net:2001:db8:1:2::/64"), since a sending
// MTA often retries from another address of its subnet, or, when SPF
// passed, the authorized domain ("spf:example.com"), since big senders
// retry from anywhere in their pool.
func MakeKey(r Request, p Params) Key {
	p = p.WithDefaults()
	return Key{
		Client: clientKey(r, p),
		Sender: NormalizeSender(r.Sender),
		Rcpt:   NormalizeRcpt(r.Rcpt),
	}
}

func clientKey(r Request, p Params) string {
	if d := normalizeDomain(r.SPFDomain); d != "" {
		return "spf:" + d
	}
	a := r.Client.Unmap() // ::ffff:192.0.2.1 is the IPv4 client it carries
	if !a.IsValid() {
		return "net:unknown"
	}
	bits := p.IPv6Bits
	if a.Is4() {
		bits = p.IPv4Bits
	}
	pfx, err := a.WithZone("").Prefix(bits)
	if err != nil { // bits is in range after WithDefaults; be safe anyway
		return "net:" + a.String()
	}
	return "net:" + pfx.String()
}

// normalizeDomain is lower case without the root dot.
func normalizeDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}
