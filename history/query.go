package history

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"spamgate/policy"
)

// scanner is what both stores offer the queries: every record at or after
// since, newest first (within the order records reached the store), with
// pre (when not nil) a cheap test on the encoded line that must hold for
// the record to be decoded at all. visit returns false to stop.
type scanner interface {
	scan(ctx context.Context, since time.Time, pre func(line []byte) bool, visit func(r *Record) bool) error
}

// reader gives a store its Query, Rollout and Stats: the stores differ
// only in how they scan.
type reader struct {
	src  scanner
	now  func() time.Time
	days int // the history's reach: a query goes back no further
}

// Query implements Store.
func (r reader) Query(ctx context.Context, f Filter) ([]Record, error) {
	return query(ctx, r.src, f, since(f.Since, r.now(), r.days))
}

// Rollout implements Store.
func (r reader) Rollout(ctx context.Context, pattern string, from time.Time, minTLS string) ([]RolloutRow, error) {
	return rollout(ctx, r.src, pattern, since(from, r.now(), r.days), minTLS)
}

// Stats implements Store.
func (r reader) Stats(ctx context.Context, from time.Time) (Stats, error) {
	return stats(ctx, r.src, since(from, r.now(), r.days))
}

// limit is f.Limit brought into range.
func (f Filter) limit() int {
	if f.Limit <= 0 {
		return DefaultLimit
	}
	return min(f.Limit, MaxLimit)
}

// match reports whether r passes every field of f (Since aside: the scan
// applies it).
func (f *Filter) match(r *Record) bool {
	if f.QueueID != "" && r.QueueID != f.QueueID {
		return false
	}
	if f.Client != "" && !matchClient(r.Client, f.Client) {
		return false
	}
	if f.Sender != "" && !containsFold(r.Sender, f.Sender) {
		return false
	}
	if f.Recipient == "" {
		return true
	}
	for _, rc := range r.Recipients {
		if containsFold(rc.Addr, f.Recipient) {
			return true
		}
	}
	return false
}

// matchClient: the address exactly (in its canonical form, so that
// "2001:DB8::1" finds "2001:db8::1"), or a text prefix ending in '.' or ':'.
func matchClient(client, want string) bool {
	if a, err := netip.ParseAddr(want); err == nil {
		return client == a.Unmap().String()
	}
	if strings.HasSuffix(want, ".") || strings.HasSuffix(want, ":") {
		return strings.HasPrefix(client, strings.ToLower(want))
	}
	return client == want
}

// clientNeedle is how a Client filter starts in the encoded record.
func clientNeedle(want string) string {
	if a, err := netip.ParseAddr(want); err == nil {
		return a.Unmap().String() + `"`
	}
	if strings.HasSuffix(want, ".") || strings.HasSuffix(want, ":") {
		return strings.ToLower(want)
	}
	return want + `"`
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// prefilter is a necessary condition on the encoded line for f to match,
// cheaper than decoding it: each searched string must appear in the line
// (case-folded for addresses). Strings JSON would escape are not
// prefiltered.
func (f *Filter) prefilter() func(line []byte) bool {
	var exact, folded [][]byte
	plain := func(s string) bool {
		return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == '"' || r == '\\' || r >= 0x80 })
	}
	if plain(f.QueueID) {
		exact = append(exact, []byte(f.QueueID))
	}
	if plain(f.Client) {
		exact = append(exact, []byte(`"client":"`+clientNeedle(f.Client)))
	}
	for _, s := range []string{f.Sender, f.Recipient} {
		if plain(s) {
			folded = append(folded, []byte(strings.ToLower(s)))
		}
	}
	if len(exact) == 0 && len(folded) == 0 {
		return nil
	}
	return func(line []byte) bool {
		for _, e := range exact {
			if !bytes.Contains(line, e) {
				return false
			}
		}
		if len(folded) == 0 {
			return true
		}
		lower := bytes.ToLower(line)
		for _, e := range folded {
			if !bytes.Contains(lower, e) {
				return false
			}
		}
		return true
	}
}

// since is the earliest time a query looks at: the filter's, but never
// before the retention (an expired record not yet removed stays unseen).
func since(want time.Time, now time.Time, days int) time.Time {
	oldest := now.Add(-time.Duration(days) * 24 * time.Hour)
	if want.Before(oldest) {
		return oldest
	}
	return want
}

// query runs a Query over a scanner.
func query(ctx context.Context, s scanner, f Filter, from time.Time) ([]Record, error) {
	limit := f.limit()
	var out []Record
	err := s.scan(ctx, from, f.prefilter(), func(r *Record) bool {
		if f.match(r) {
			out = append(out, *r)
		}
		return len(out) < limit
	})
	// Hosts' clocks and queue order differ a little: newest first by the
	// records' own time.
	slices.SortStableFunc(out, func(a, b Record) int { return b.Time.Compare(a.Time) })
	return out, err
}

// rolloutMatcher answers, for a recipient pattern and a minimum TLS
// version, the two questions of the rollout advisor through the policy
// package itself: does the pattern's rule apply to this recipient, and
// would it refuse this session's TLS?
type rolloutMatcher struct {
	p   *policy.Policy
	set policy.Settings
}

func newRolloutMatcher(pattern, minTLS string) (*rolloutMatcher, error) {
	pattern = strings.TrimSpace(pattern)
	if d, ok := strings.CutPrefix(pattern, "@"); ok {
		pattern = d // "@example.org": the domain, as recipient tables write it
	}
	yes := true
	set := policy.Settings{RequireTLS: &yes, MinTLSVersion: minTLS}
	p, _, err := policy.New([]policy.Rule{{Recipient: pattern, Settings: set, Source: "rollout"}})
	if err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	return &rolloutMatcher{p: p, set: set}, nil
}

func (m *rolloutMatcher) applies(rcpt string) bool {
	return m.p.Lookup(rcpt, "", netip.Addr{}) != nil
}

// refuses: the rule's own TLS check (cipher bits unknown, not required).
func (m *rolloutMatcher) refuses(tlsVersion string) bool {
	ok, _ := m.set.CheckTLS(policy.TLSFacts{Version: tlsVersion})
	return !ok
}

type rolloutKey struct{ client, domain, tls string }

// rollout runs a Rollout over a scanner. A transaction counts when it was
// inbound, not refused as a whole at end of message, and had a recipient
// matching the pattern that was accepted or refused for TLS (an earlier
// rule's soft 450 rollout): recipients refused by the spam checks would
// not have been delivered anyway.
func rollout(ctx context.Context, s scanner, pattern string, from time.Time, minTLS string) ([]RolloutRow, error) {
	m, err := newRolloutMatcher(pattern, minTLS)
	if err != nil {
		return nil, err
	}
	rows := map[rolloutKey]*RolloutRow{}
	err = s.scan(ctx, from, rolloutPrefilter(pattern, minTLS), func(r *Record) bool {
		if r.Outbound || r.Reply != "" || !m.refuses(r.TLSVersion) {
			return true
		}
		var row *RolloutRow
		for _, rc := range r.Recipients {
			if rc.Reply != "" && rc.Check != "tls" || !m.applies(rc.Addr) {
				continue
			}
			if row == nil {
				row = rolloutRow(rows, r)
			}
			if len(row.Recipients) < RolloutExamples && !slices.Contains(row.Recipients, rc.Addr) {
				row.Recipients = append(row.Recipients, rc.Addr)
			}
		}
		return true
	})
	out := make([]RolloutRow, 0, len(rows))
	for _, row := range rows {
		out = append(out, *row)
	}
	slices.SortFunc(out, func(a, b RolloutRow) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return b.LastSeen.Compare(a.LastSeen)
	})
	return out, err
}

// rolloutPrefilter is a necessary condition on the encoded line, to
// decode only the candidates (a full store is ~130,000 records): without
// a minimum version only cleartext counts, and cleartext lines have no
// "tls_version"; an ASCII pattern's domain must appear in the line. IDNs
// (a pattern or recipient in either form) are left to the decoded check.
func rolloutPrefilter(pattern, minTLS string) func([]byte) bool {
	domain := strings.ToLower(strings.TrimLeft(strings.TrimSpace(pattern), "@."))
	if at := strings.LastIndexByte(domain, '@'); at >= 0 {
		domain = domain[at+1:]
	}
	useDomain := domain != "*" && domain != "" && !strings.Contains(domain, "xn--") &&
		!strings.ContainsFunc(domain, func(r rune) bool { return r >= 0x80 || r == '"' || r == '\\' })
	needle := []byte(domain)
	return func(line []byte) bool {
		if minTLS == "" && bytes.Contains(line, []byte(`"tls_version":`)) {
			return false
		}
		if !useDomain {
			return true
		}
		if bytes.Contains(line, needle) {
			return true
		}
		// Addresses as sent may be in upper case, or in U-labels.
		return hasNonASCII(line) || bytes.Contains(bytes.ToLower(line), needle)
	}
}

func hasNonASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// rolloutRow counts r in its row, made on first sight.
func rolloutRow(rows map[rolloutKey]*RolloutRow, r *Record) *RolloutRow {
	k := rolloutKey{r.Client, senderDomain(r.Sender), r.TLSVersion}
	row := rows[k]
	if row == nil {
		row = &RolloutRow{Client: k.client, SenderDomain: k.domain, TLSVersion: k.tls}
		rows[k] = row
	}
	row.Count++
	if r.Time.After(row.LastSeen) {
		row.LastSeen = r.Time
		if r.ClientName != "" {
			row.ClientName = r.ClientName
		}
	}
	return row
}

// senderDomain is the lower-cased domain of an envelope sender, "" for
// the null sender.
func senderDomain(s string) string {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(s[at+1:], "."))
}

// stats runs a Stats over a scanner. TLS versions count inbound
// transactions only (submission's TLS says nothing about senders).
func stats(ctx context.Context, s scanner, from time.Time) (Stats, error) {
	st := Stats{Refusals: map[string]int{}, TLSVersions: map[string]int{}}
	err := s.scan(ctx, from, nil, func(r *Record) bool {
		st.Transactions++
		if !r.Outbound {
			v := r.TLSVersion
			if v == "" {
				v = "cleartext"
			}
			st.TLSVersions[v]++
		}
		for _, rc := range r.Recipients {
			switch {
			case rc.Reply != "":
				st.Refusals[checkName(rc.Check)]++
			case r.Reply != "":
				st.Refusals[checkName(r.Check)]++
			}
		}
		return true
	})
	return st, err
}

func checkName(c string) string {
	if c == "" {
		return "other"
	}
	return c
}
