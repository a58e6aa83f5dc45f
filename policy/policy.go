package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Policy is a set of rules ready for lookups. It never changes once built,
// so it is safe for concurrent use; a reload builds a new one.
type Policy struct {
	rules []Rule                // the caller's rules, copied: Lookup returns pointers into it
	byKey map[string][]compiled // recipient key in lookup form → its rules, in order
}

// New checks the rules and builds a Policy; the order of rules is the order
// rules sharing a key are tried (config rules first, then table rules). The
// error names the Source of each invalid rule. The warnings are about rules
// that can never match — an earlier rule for the same recipient key has no
// conditions or broader ones (shadowed), or the very same conditions
// (duplicate) — and settings given twice in one table entry.
func New(rules []Rule) (*Policy, []Warning, error) {
	p := &Policy{rules: slices.Clone(rules), byKey: make(map[string][]compiled, len(rules))}
	var errs errorList
	var warns []Warning
	shadows := newShadowIndex(len(rules))
	for i := range p.rules {
		r := &p.rules[i]
		c, w, err := compile(r)
		if err != nil {
			errs.add(fmt.Errorf("%s: %w", sourceOf(r, i), err))
			continue
		}
		warns = append(warns, w...)
		if msg := shadows.add(&c, i, sourceOf(r, i)); msg != "" {
			warns = append(warns, Warning{r.Source, msg})
		}
		p.byKey[c.key] = append(p.byKey[c.key], c)
	}
	if err := errs.err(); err != nil {
		return nil, warns, err
	}
	return p, warns, nil
}

// sourceOf names a rule in messages, even one built without a Source.
func sourceOf(r *Rule, i int) string {
	if r.Source != "" {
		return r.Source
	}
	return fmt.Sprintf("rule %d (%s)", i+1, r.Recipient)
}

// Len is the number of rules.
func (p *Policy) Len() int {
	if p == nil {
		return 0
	}
	return len(p.rules)
}

// Lookup returns the rule for a recipient of a transaction, in the order the
// package documentation describes, or nil when none applies. sender is the
// envelope sender ("" or "<>" for bounces); client is the connecting
// client's address. The Rule is shared: do not modify it.
func (p *Policy) Lookup(rcpt, sender string, client netip.Addr) *Rule {
	if p == nil {
		return nil
	}
	m := matcher{byKey: p.byKey, rawSender: sender, sender: lazyAddress{raw: sender}, client: client.Unmap().WithZone("")}
	a := splitAddress(rcpt)
	if r := m.address(&a); r != nil {
		return r
	}
	return m.domain(a.domain, a.valid)
}

// LookupDomain returns the rule for a next-hop domain, for Postfix's
// smtp_tls_policy_maps: the domain, then its parent domains, then "*".
// Only rules without conditions count, since Postfix's question has no
// sender or client. A next hop that is not a plain domain
// ("[mx.example.org]:587") can only match "*".
func (p *Policy) LookupDomain(domain string) *Rule {
	if p == nil {
		return nil
	}
	m := matcher{byKey: p.byKey, outbound: true}
	return m.domain(lookupDomain(strings.TrimSuffix(strings.ToLower(domain), ".")))
}

// matcher walks the keys of one lookup.
type matcher struct {
	byKey     map[string][]compiled
	outbound  bool // only rules without conditions
	rawSender string
	sender    lazyAddress
	client    netip.Addr
}

// address tries the full address, then the address without its extension.
func (m *matcher) address(a *address) *Rule {
	if a.full == "" || a.domain == "" {
		return nil
	}
	if r := m.first(m.byKey[a.full]); r != nil || a.base == "" {
		return r
	}
	var buf [256]byte // builds base@domain without allocating in the common case
	key := append(append(append(buf[:0], a.base...), '@'), a.domain...)
	return m.first(m.byKey[string(key)])
}

// domain tries the domain, its parents closest first, then "*".
func (m *matcher) domain(d string, valid bool) *Rule {
	var found *Rule
	if valid {
		if found = m.first(m.byKey[d]); found != nil {
			return found
		}
		parents(d, func(key string) bool {
			found = m.first(m.byKey[key])
			return found == nil
		})
		if found != nil {
			return found
		}
	}
	return m.first(m.byKey["*"])
}

// first returns the first rule at a key whose conditions hold.
func (m *matcher) first(rules []compiled) *Rule {
	for i := range rules {
		c := &rules[i]
		switch {
		case m.outbound:
			if !c.conditional() {
				return c.rule
			}
		case c.matches(m.rawSender, &m.sender, m.client):
			return c.rule
		}
	}
	return nil
}
