package dane

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Status is how far a DNS answer can be trusted.
type Status int

const (
	// Secure: the validating resolver set AD; the records (or their
	// absence) are authenticated.
	Secure Status = iota
	// Insecure: a proper answer without AD (an unsigned zone). RFC 7672:
	// no DANE, delivery goes on without it.
	Insecure
	// Bogus: the validating resolver answered SERVFAIL, which is how it
	// reports a validation failure. RFC 7672: an error, never "no DANE".
	Bogus
	// Failed: no usable answer (timeout, REFUSED, malformed reply).
	Failed
)

func (s Status) String() string {
	switch s {
	case Secure:
		return "secure"
	case Insecure:
		return "insecure"
	case Bogus:
		return "bogus"
	}
	return "failed"
}

// ednsSize is the EDNS0 payload size advertised (DNS Flag Day 2020).
const ednsSize = 1232

// Answer is one DNSSEC-aware lookup.
type Answer struct {
	Status Status
	// Rcode is the reply's rcode (NOERROR with no records is NODATA).
	Rcode int
	// Records are the answer section's records of the type asked.
	Records []dns.RR
	// Err says what went wrong when Status is Bogus or Failed.
	Err error
}

// Resolver asks only the validating resolvers it was given, and believes
// their AD bit. It keeps no cache: the validating resolver has one.
type Resolver struct {
	servers  []string
	timeout  time.Duration
	udp, tcp *dns.Client
}

// NewResolver makes a Resolver for servers ("HOST:PORT"); timeout bounds
// each exchange (0: 2s).
func NewResolver(servers []string, timeout time.Duration) *Resolver {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return &Resolver{servers: servers, timeout: timeout,
		udp: &dns.Client{Net: "udp", Timeout: timeout, UDPSize: ednsSize},
		tcp: &dns.Client{Net: "tcp", Timeout: timeout}}
}

// Query asks for name/qtype with DO and AD set (RFC 6840 5.7: AD in a
// query asks for the AD bit in the reply). Servers are tried in order; a
// Bogus or Failed answer moves on to the next, and the last one is
// returned when none gives a secure or insecure answer.
func (r *Resolver) Query(ctx context.Context, name string, qtype uint16) Answer {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(ednsSize, true)
	q.AuthenticatedData = true
	last := Answer{Status: Failed, Err: errors.New("no dnssec nameserver")}
	for _, server := range r.servers {
		if err := ctx.Err(); err != nil {
			return Answer{Status: Failed, Err: fmt.Errorf("%s %s: %w", name, dns.TypeToString[qtype], err)}
		}
		q.Id = dns.Id()
		resp, err := r.exchange(ctx, q, server)
		last = classify(q, resp, err)
		if last.Err != nil {
			last.Err = fmt.Errorf("%s %s at %s: %w", name, dns.TypeToString[qtype], server, last.Err)
		}
		if last.Status == Secure || last.Status == Insecure {
			return last
		}
	}
	return last
}

// exchange sends q over UDP, and over TCP when the reply is truncated.
func (r *Resolver) exchange(ctx context.Context, q *dns.Msg, server string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	resp, _, err := r.udp.ExchangeContext(ctx, q, server)
	if err != nil || !resp.Truncated {
		return resp, err
	}
	resp, _, err = r.tcp.ExchangeContext(ctx, q, server)
	if err == nil && resp.Truncated {
		// Incomplete even over TCP: its empty answer must not read as a
		// secure "no TLSA records" (dane/hostile_test.go).
		return nil, errors.New("truncated over TCP")
	}
	return resp, err
}

// classify turns one reply into an Answer.
func classify(q, resp *dns.Msg, err error) Answer {
	if err != nil {
		return Answer{Status: Failed, Err: err}
	}
	if p := checkReply(q, resp); p != "" {
		return Answer{Status: Failed, Err: errors.New("malformed answer: " + p)}
	}
	a := Answer{Rcode: resp.Rcode}
	switch resp.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	case dns.RcodeServerFailure:
		a.Status, a.Err = Bogus, errors.New("SERVFAIL from the validating resolver (DNSSEC validation failed, or it could not resolve)")
		return a
	default:
		a.Status, a.Err = Failed, errors.New("server misbehaving: "+dns.RcodeToString[resp.Rcode])
		return a
	}
	a.Status = Insecure
	if resp.AuthenticatedData {
		a.Status = Secure
	}
	qt := q.Question[0].Qtype
	for _, rr := range resp.Answer {
		if h := rr.Header(); h.Rrtype == qt && h.Class == dns.ClassINET {
			a.Records = append(a.Records, rr)
		}
	}
	return a
}

// checkReply makes sure resp answers q; "" if it does.
func checkReply(q, resp *dns.Msg) string {
	switch {
	case !resp.Response:
		return "not a response"
	case len(resp.Question) != 1:
		return "answer has no single question"
	}
	want, got := q.Question[0], resp.Question[0]
	if got.Qtype != want.Qtype || got.Qclass != want.Qclass || !strings.EqualFold(got.Name, want.Name) {
		return "question mismatch"
	}
	return ""
}
