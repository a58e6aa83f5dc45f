package dnsx

import (
	"context"
	"net"
	"net/netip"
	"slices"

	"github.com/miekg/dns"
)

// LookupTXT returns the TXT records of name, one string per record: the
// record's character-strings concatenated, as raw bytes (as net.LookupTXT).
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	a, err := r.lookup(ctx, name, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	return slices.Clone(a.strs), nil
}

// LookupMX returns the MX records of name sorted by preference (records of
// equal preference stay in answer order). A null MX (RFC 7505) comes back
// as Host "." and Pref 0.
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	a, err := r.lookup(ctx, name, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	mx := slices.Clone(a.mx)
	out := make([]*net.MX, len(mx))
	for i := range mx {
		out[i] = &mx[i]
	}
	return out, nil
}

// LookupAddr returns the PTR names of addr (in-addr.arpa, or ip6.arpa
// nibbles), fully qualified.
func (r *Resolver) LookupAddr(ctx context.Context, addr netip.Addr) ([]string, error) {
	if !addr.IsValid() {
		return nil, &net.DNSError{Err: "unrecognized address", Name: addr.String()}
	}
	arpa := reverseName(addr)
	a, err := r.lookup(ctx, arpa, arpa+".", dns.TypePTR)
	if err != nil {
		return nil, err
	}
	return slices.Clone(a.strs), nil
}

// lookup answers (name, qtype). display is the name errors carry.
func (r *Resolver) lookup(ctx context.Context, name, display string, qtype uint16) (*answer, error) {
	cn, ok := canonicalName(name)
	if !ok {
		return nil, invalidNameError(display)
	}
	a := r.resolve(ctx, key{cn, qtype})
	return a, r.errorOf(a, display)
}

// errorOf returns a's error for callers, and counts the failures.
func (r *Resolver) errorOf(a *answer, name string) error {
	if a.outcome == failed && a != notCached {
		r.stats.errors.Add(1)
	}
	return a.err(name)
}
