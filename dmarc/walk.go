package dmarc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// maxWalkQueries bounds a DNS Tree Walk (RFC 9989 4.10): an Author Domain
// of more than eight labels never costs more than eight queries.
const maxWalkQueries = 8

// Resolver is the DNS access the package needs; spamgate/dnsx.Resolver
// satisfies it. Names are passed without a trailing dot.
//
// Errors should be *net.DNSError: IsNotFound (NXDOMAIN or NODATA) means "no
// record". Every other error, IsTemporary and IsTimeout included, is a
// failed query and makes the evaluation a temperror.
type Resolver interface {
	// LookupTXT returns one string per TXT record, its character-strings
	// concatenated (RFC 9989 4.5).
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// answer is what one "_dmarc.<domain>" query says.
type answer struct {
	rec     *Record // nil: no DMARC Policy Record, or several (4.10 step 2)
	invalid error   // rec is a DMARC record with no usable policy (4.10.1)
	err     error   // the query failed
}

// entry is a DMARC record found by a DNS Tree Walk.
type entry struct {
	domain string
	answer
}

// discoverer runs the DNS queries of one evaluation. It remembers answers
// and Organizational Domains, so that the walks for the Author Domain and
// the Authenticated Identifiers share their queries.
type discoverer struct {
	r       Resolver
	answers map[string]answer
	orgs    map[string]string
}

func newDiscoverer(r Resolver) *discoverer {
	return &discoverer{r: r, answers: map[string]answer{}, orgs: map[string]string{}}
}

// query returns the DMARC record at domain, at most once per domain.
func (d *discoverer) query(ctx context.Context, domain string) answer {
	if a, ok := d.answers[domain]; ok {
		return a
	}
	a := d.fetch(ctx, domain)
	d.answers[domain] = a
	return a
}

// fetch queries "_dmarc.<domain>" and keeps the answer only when exactly one
// record starts with "v=DMARC1" (RFC 9989 4.10 steps 2 and 6).
func (d *discoverer) fetch(ctx context.Context, domain string) answer {
	name := "_dmarc." + domain
	txts, err := d.r.LookupTXT(ctx, name)
	if err != nil {
		if isNotFound(err) {
			return answer{}
		}
		return answer{err: fmt.Errorf("dmarc: looking up %s: %w", name, err)}
	}
	var a answer
	n := 0
	for _, txt := range txts {
		rec, err := parse(txt)
		if errors.Is(err, ErrNotDMARC) {
			continue
		}
		n++
		a = answer{rec: rec, invalid: err}
	}
	if n != 1 {
		return answer{}
	}
	return a
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// walkNames lists the names a DNS Tree Walk from domain queries, in order
// (RFC 9989 4.10 steps 3, 4 and 7): the domain itself; then, from a domain
// of eight or more labels, straight to its last seven labels, otherwise to
// its parent; then one label less at a time, down to the last label.
func walkNames(domain string) []string {
	labels := strings.Split(domain, ".")
	names := []string{domain}
	next := 1
	if len(labels) >= maxWalkQueries {
		next = len(labels) - (maxWalkQueries - 1)
	}
	for i := next; i < len(labels); i++ {
		names = append(names, strings.Join(labels[i:], "."))
	}
	return names
}

// walk runs a DNS Tree Walk from domain (RFC 9989 4.10) and returns the
// DMARC records found, longest name first. It stops at the first record
// with psd=y or psd=n, and at the first failed query.
func (d *discoverer) walk(ctx context.Context, domain string) ([]entry, error) {
	var found []entry
	for _, name := range walkNames(domain) {
		a := d.query(ctx, name)
		if a.err != nil {
			return nil, a.err
		}
		if a.rec == nil {
			continue
		}
		found = append(found, entry{name, a})
		if a.rec.PSD == "y" || a.rec.PSD == "n" {
			break
		}
	}
	return found, nil
}

// orgFrom selects the Organizational Domain of start from the records its
// tree walk found (RFC 9989 4.10.2). As the walk stops at the first psd=y or
// psd=n, only the last record can carry one:
//  1. psd=n: that domain;
//  2. psd=y, found above start: the domain one label below it, toward start;
//  3. otherwise the domain with the fewest labels, the last one;
//
// and with no record at all, start itself.
func orgFrom(start string, found []entry) string {
	if len(found) == 0 {
		return start
	}
	last := found[len(found)-1]
	if last.rec.PSD == "y" && last.domain != start {
		return childToward(start, last.domain)
	}
	return last.domain
}

// childToward returns the ancestor-or-self of name that has one label more
// than its ancestor parent.
func childToward(name, parent string) string {
	labels := strings.Split(name, ".")
	n := strings.Count(parent, ".") + 2
	return strings.Join(labels[len(labels)-n:], ".")
}

// orgDomain returns the Organizational Domain of domain (RFC 9989 4.10.2).
func (d *discoverer) orgDomain(ctx context.Context, domain string) (string, error) {
	if org, ok := d.orgs[domain]; ok {
		return org, nil
	}
	found, err := d.walk(ctx, domain)
	if err != nil {
		return "", err
	}
	org := orgFrom(domain, found)
	d.orgs[domain] = org
	return org, nil
}

// OrganizationalDomain returns the Organizational Domain of domain,
// determined by the DNS Tree Walk of RFC 9989 4.10 and the selection rules
// of 4.10.2 (psd=n, psd=y, then the record with the fewest labels). A domain
// with no DMARC record on its path is its own Organizational Domain. The
// error is set when a query fails (anything but "not found") or when domain
// is not a valid domain name.
func OrganizationalDomain(ctx context.Context, r Resolver, domain string) (string, error) {
	name, err := normalizeDomain(domain)
	if err != nil {
		return "", err
	}
	return newDiscoverer(r).orgDomain(ctx, name)
}

// policy is the outcome of DMARC Policy Discovery.
type policy struct {
	domain string // DMARC Policy Domain (RFC 9989 3.2.5); "" when none
	answer
	org string // Organizational Domain of the Author Domain, when the discovery found it
}

// discoverPolicy runs DMARC Policy Discovery (RFC 9989 4.10.1): the record
// of the Author Domain if it has one; else, from a DNS Tree Walk, the record
// of its Organizational Domain, else that of its Public Suffix Domain.
func (d *discoverer) discoverPolicy(ctx context.Context, author string) (policy, error) {
	a := d.query(ctx, author)
	if a.err != nil {
		return policy{}, a.err
	}
	if a.rec != nil {
		return policy{domain: author, answer: a}, nil
	}
	// The walk's first query, the Author Domain's, is answered from memory;
	// it goes on at the parent, or at the last seven labels.
	found, err := d.walk(ctx, author)
	if err != nil {
		return policy{}, err
	}
	if len(found) == 0 {
		return policy{}, nil
	}
	org := orgFrom(author, found)
	d.orgs[author] = org
	for _, e := range found {
		if e.domain == org {
			return policy{domain: org, answer: e.answer, org: org}, nil
		}
	}
	// The Organizational Domain, one label below a psd=y record, has no
	// record: the Public Suffix Domain's applies.
	last := found[len(found)-1]
	return policy{domain: last.domain, answer: last.answer, org: org}, nil
}
