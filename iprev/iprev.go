// Package iprev checks an SMTP client's reverse DNS the way RFC 8601
// section 3 defines "iprev": the PTR names of the address are looked up,
// and a name passes when one of its own addresses is the client's
// (forward-confirmed reverse DNS). It also tells whether the name looks
// like an end-user address pool ("dsl-192-0-2-7.dyn.example.net"), which
// greylisting and the spam score treat as a sign of a spam source.
package iprev

import (
	"context"
	"net/netip"
	"strings"

	"spamgate/dnsx"
)

// Resolver is the DNS the check needs (spamgate/dnsx.Resolver).
type Resolver interface {
	LookupAddr(ctx context.Context, addr netip.Addr) ([]string, error)
	LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Status is an RFC 8601 iprev result.
type Status string

const (
	Pass      Status = "pass"      // a PTR name resolves back to the address
	Fail      Status = "fail"      // PTR names exist, none resolves back
	PermError Status = "permerror" // no PTR record
	TempError Status = "temperror" // DNS trouble: no conclusion
)

// maxNames bounds the PTR names checked, as RFC 7208 section 5.5 does for
// SPF's ptr: a hostile reverse zone must not cost a lookup per name.
const maxNames = 10

// Result is what the check found.
type Result struct {
	Status  Status `json:"status"`
	Name    string `json:"name,omitempty"`    // the confirmed name, or the first PTR name
	Dynamic string `json:"dynamic,omitempty"` // why the name looks dynamic, "" if it does not
}

// Check looks up addr's reverse DNS and confirms it. words are the name
// parts that mark a dynamic pool (Dynamic applies them).
func Check(ctx context.Context, r Resolver, addr netip.Addr, words []string) Result {
	addr = addr.Unmap()
	names, err := r.LookupAddr(ctx, addr)
	if err != nil {
		if dnsx.IsNotFound(err) {
			return Result{Status: PermError}
		}
		return Result{Status: TempError}
	}
	if len(names) == 0 {
		return Result{Status: PermError}
	}
	if len(names) > maxNames {
		names = names[:maxNames]
	}
	res := Result{Status: Fail, Name: strings.TrimSuffix(names[0], ".")}
	temp := false
	for _, n := range names {
		ok, err := confirms(ctx, r, n, addr)
		if err != nil {
			temp = true
			continue
		}
		if ok {
			res = Result{Status: Pass, Name: strings.TrimSuffix(n, ".")}
			break
		}
	}
	if res.Status == Fail && temp {
		res.Status = TempError
	}
	res.Dynamic = Dynamic(res.Name, addr, words)
	return res
}

// confirms reports whether name has addr among its addresses.
func confirms(ctx context.Context, r Resolver, name string, addr netip.Addr) (bool, error) {
	network := "ip4"
	if addr.Is6() {
		network = "ip6"
	}
	ips, err := r.LookupIP(ctx, network, strings.TrimSuffix(name, "."))
	if err != nil {
		if dnsx.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	for _, ip := range ips {
		if ip.Unmap() == addr {
			return true, nil
		}
	}
	return false, nil
}
