package dane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// Bounds on what one domain can make us look up or keep: a hostile domain
// may publish hundreds of MX or TLSA records. Postfix itself tries at most
// smtp_mx_address_limit (5) addresses; MaxMXHosts is above any real one.
const (
	MaxMXHosts     = 10
	MaxTLSAPerHost = 32
)

// Host is one MX host's TLSA lookup.
type Host struct {
	Name   string
	Status Status
	// TLSA are the usable records (RFC 7672 3.1: usages DANE-TA(2) and
	// DANE-EE(3), known selector and matching type), at most MaxTLSAPerHost.
	TLSA []*dns.TLSA
	// Unusable counts the records that were not usable (PKIX usages 0/1,
	// unknown selector or matching type); Dropped those past MaxTLSAPerHost.
	Unusable, Dropped int
	Err               error
}

// Usable reports whether the host is DANE-protected: a secure TLSA RRset
// with at least one usable record.
func (h Host) Usable() bool { return h.Status == Secure && len(h.TLSA) > 0 }

// Result is what a domain publishes.
type Result struct {
	Domain string
	// MX is the MX lookup's status: Insecure means no DANE for any host
	// (RFC 7672 2.2.1), Bogus/Failed an error.
	MX    Status
	Hosts []Host
	// Err is set when the domain's DANE status cannot be known: a bogus or
	// failed MX or TLSA lookup.
	Err error
}

// Usable reports whether at least one MX host is DANE-protected and no
// lookup failed.
func (r Result) Usable() bool {
	if r.Err != nil {
		return false
	}
	return slices.ContainsFunc(r.Hosts, Host.Usable)
}

// Lookup looks the domain's MX hosts up, then their TLSA records
// (_25._tcp.HOST). An insecure MX answer ends it: no DANE. A domain
// without MX records (secure NODATA) is its own host (RFC 7672 2.2.1).
func (r *Resolver) Lookup(ctx context.Context, domain string) Result {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	res := Result{Domain: domain}
	a := r.Query(ctx, domain, dns.TypeMX)
	res.MX = a.Status
	switch a.Status {
	case Bogus, Failed:
		res.Err = fmt.Errorf("mx lookup: %w", a.Err)
		return res
	case Insecure:
		return res
	}
	hosts, err := mxHosts(domain, a)
	if err != nil {
		res.Err = err
		return res
	}
	// Concurrently: the whole answer must come within the socketmap
	// request's deadline, which ten TLSA timeouts in a row would pass.
	res.Hosts = make([]Host, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res.Hosts[i] = r.lookupHost(ctx, h)
		}()
	}
	wg.Wait()
	for _, host := range res.Hosts {
		if host.Err != nil {
			res.Err = fmt.Errorf("tlsa lookup for mx %s: %w", host.Name, host.Err)
			break
		}
	}
	return res
}

// mxHosts lists the MX host names in preference order, at most MaxMXHosts.
// NXDOMAIN and null MX (RFC 7505) give none: nothing to deliver to.
func mxHosts(domain string, a Answer) ([]string, error) {
	if a.Rcode == dns.RcodeNameError {
		return nil, nil
	}
	var mx []*dns.MX
	for _, rr := range a.Records {
		if m, ok := rr.(*dns.MX); ok {
			mx = append(mx, m)
		}
	}
	if len(mx) == 0 {
		return []string{domain}, nil // implicit MX
	}
	slices.SortStableFunc(mx, func(x, y *dns.MX) int { return int(x.Preference) - int(y.Preference) })
	var hosts []string
	for _, m := range mx {
		h := strings.ToLower(strings.TrimSuffix(m.Mx, "."))
		if h == "" {
			continue // null MX
		}
		if _, ok := dns.IsDomainName(h); !ok {
			return nil, errors.New("mx lookup: malformed host name " + h)
		}
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
		if len(hosts) == MaxMXHosts {
			break
		}
	}
	return hosts, nil
}

// lookupHost asks for the TLSA records of one MX host, after its address
// records: RFC 7672 2.2.2, an MX host whose A/AAAA answers are insecure
// gets no DANE (Postfix would not use its TLSA records either, and a
// "dane-only" answer would then defer the mail for nothing).
//
// The three questions go out at once (one round trip, not three); the TLSA
// answer is dropped unread when the address is not secure.
func (r *Resolver) lookupHost(ctx context.Context, name string) Host {
	h := Host{Name: name}
	tlsa := make(chan Answer, 1)
	go func() { tlsa <- r.Query(ctx, "_25._tcp."+name, dns.TypeTLSA) }()
	if st, err := r.addressStatus(ctx, name); st != Secure {
		h.Status, h.Err = st, err
		return h
	}
	a := <-tlsa
	h.Status, h.Err = a.Status, a.Err
	if a.Status != Secure {
		return h
	}
	for _, rr := range a.Records {
		t, ok := rr.(*dns.TLSA)
		switch {
		case !ok:
		case !usableTLSA(t):
			h.Unusable++
		case len(h.TLSA) == MaxTLSAPerHost:
			h.Dropped++
		default:
			h.TLSA = append(h.TLSA, t)
		}
	}
	return h
}

// addressStatus is the weakest status of the host's A and AAAA answers:
// Bogus/Failed (with the error) before Insecure before Secure.
func (r *Resolver) addressStatus(ctx context.Context, name string) (Status, error) {
	aaaa := make(chan Answer, 1)
	go func() { aaaa <- r.Query(ctx, name, dns.TypeAAAA) }()
	worst, err := Secure, error(nil)
	for _, a := range []Answer{r.Query(ctx, name, dns.TypeA), <-aaaa} {
		if a.Status > worst {
			worst, err = a.Status, a.Err
		}
	}
	if err != nil {
		err = fmt.Errorf("address lookup: %w", err)
	}
	return worst, err
}

// usableTLSA is RFC 7672 3.1: SMTP uses DANE-TA(2) and DANE-EE(3) only;
// selectors Cert(0) and SPKI(1); matching Full(0), SHA2-256(1), SHA2-512(2),
// with data of the digest's length (RFC 7671 5.1: a malformed record is
// unusable). miekg/dns reads a truncated rdata ("03 01", no matching type
// nor data) as "3 1 0" with no data: counted usable, a domain whose only
// TLSA record is broken got "dane-only", a deferral where Postfix sees no
// usable record and require_tls means "encrypt" (dane/hostile_test.go).
func usableTLSA(t *dns.TLSA) bool {
	if t.Usage != 2 && t.Usage != 3 || t.Selector > 1 {
		return false
	}
	n := len(t.Certificate) / 2 // hex
	switch t.MatchingType {
	case 0:
		return n > 0
	case 1:
		return n == 32
	case 2:
		return n == 64
	}
	return false
}

// MarshalJSON writes Err as a string (explain -json); an error value
// would print as {}.
func (h Host) MarshalJSON() ([]byte, error) {
	type plain Host
	return json.Marshal(struct {
		plain
		Status string
		Err    string `json:",omitempty"`
	}{plain(h), h.Status.String(), errString(h.Err)})
}

// MarshalJSON: see Host.MarshalJSON.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		MX  string
		Err string `json:",omitempty"`
	}{plain(r), r.MX.String(), errString(r.Err)})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
