// Package dnscheck checks what a sending domain publishes in DNS, as the
// checklist of a well-configured mail-out server asks: an SPF record that
// parses, a DKIM key record matching each of our signing keys, a DMARC record
// with rua, an MX, and a forward-confirmed PTR for the sending IP.
//
// It reports rather than enforces: every check ends in a row of the Report,
// and a DNS failure is a failed row that says it was temporary, so an admin
// knows to rerun rather than to fix the zone.
package dnscheck

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"text/tabwriter"

	"spamgate/config"
)

// Statuses of a Check. Only Fail makes a Report not OK: a Warn is something
// to improve, a Skip something that could not be checked from the arguments.
const (
	Pass = "pass"
	Fail = "fail"
	Warn = "warn"
	Skip = "skip"
)

// Resolver is the DNS access the checks need; *dnsx.Resolver satisfies it.
// Errors are expected as dnsx returns them (*net.DNSError), so that "no
// record" can be told from "the lookup failed".
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupAddr(ctx context.Context, addr netip.Addr) ([]string, error)
}

// Check is one row of a Report.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"` // Pass, Fail, Warn or Skip
	Detail string `json:"detail"`
}

// Report is the outcome of Run for one domain, checks in a fixed order.
type Report struct {
	Domain string  `json:"domain"`
	Checks []Check `json:"checks"`
}

// Run checks domain: SPF, one DKIM row per key of keys whose Domain is domain
// (keys of other domains are ignored, so the whole [[dkim.key]] list can be
// passed), DMARC, MX, and the PTR of ip unless ip is the zero Addr.
func Run(ctx context.Context, r Resolver, domain string, keys []config.DKIMKey, ip netip.Addr) Report {
	domain = strings.TrimSuffix(domain, ".")
	rep := Report{Domain: domain}
	rep.Checks = append(rep.Checks, checkSPF(ctx, r, domain))
	rep.Checks = append(rep.Checks, checkDKIM(ctx, r, domain, keys)...)
	rep.Checks = append(rep.Checks, checkDMARC(ctx, r, domain))
	rep.Checks = append(rep.Checks, checkMX(ctx, r, domain))
	rep.Checks = append(rep.Checks, checkPTR(ctx, r, ip))
	return rep
}

// OK reports whether no check failed.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return false
		}
	}
	return true
}

// Write prints the report as an aligned table with a one-line verdict.
func (r Report) Write(w io.Writer) {
	fmt.Fprintf(w, "DNS check of %s\n\n", r.Domain)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tDETAIL")
	for _, c := range r.Checks {
		// Upper case makes a failure stand out in a column of passes.
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, strings.ToUpper(c.Status), c.Detail)
	}
	tw.Flush()
	failed := 0
	for _, c := range r.Checks {
		if c.Status == Fail {
			failed++
		}
	}
	if failed == 0 {
		fmt.Fprintln(w, "\nresult: pass")
	} else {
		fmt.Fprintf(w, "\nresult: FAIL (%d of %d checks failed)\n", failed, len(r.Checks))
	}
}
