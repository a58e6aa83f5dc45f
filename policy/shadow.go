package policy

import (
	"fmt"
	"net/netip"
	"strings"
)

// shadowIndex finds rules that can never match: an earlier rule at the same
// recipient key whose conditions cover all of this rule's transactions. It
// looks up the few condition sets that could cover a rule instead of
// comparing rule pairs, so that 100,000 generated rules stay cheap.
type shadowIndex struct {
	first map[condKey]ruleRef // conditions → the first rule that has them
	lens  map[prefixLen]bool  // client network lengths in use, to enumerate supernets
}

type condKey struct {
	rkey   string
	sender senderCond
	client netip.Prefix
}

type ruleRef struct {
	index int
	name  string
}

type prefixLen struct {
	is4  bool
	bits int
}

func newShadowIndex(n int) *shadowIndex {
	return &shadowIndex{first: make(map[condKey]ruleRef, n), lens: map[prefixLen]bool{}}
}

// add records rule number index, named by name, and returns a warning when
// an earlier rule makes it unreachable ("" otherwise). The warning names
// the earliest such rule, the one to look at first.
func (x *shadowIndex) add(c *compiled, index int, name string) string {
	own := condKey{c.key, c.sender, c.client}
	if prev, ok := x.first[own]; ok {
		return fmt.Sprintf("never matches: %s already has a rule for %s with the same conditions", prev.name, c.key)
	}
	x.first[own] = ruleRef{index, name}
	if c.client.IsValid() {
		x.lens[prefixLen{c.client.Addr().Is4(), c.client.Bits()}] = true
	}
	var by ruleRef
	var cover condKey
	for _, s := range coveringSenders(c.sender) {
		for _, n := range x.coveringClients(c.client) {
			k := condKey{c.key, s, n}
			if prev, ok := x.first[k]; ok && k != own && (by.name == "" || prev.index < by.index) {
				by, cover = prev, k
			}
		}
	}
	if by.name == "" {
		return ""
	}
	return fmt.Sprintf("never matches: the rule at %s for %s comes first and its conditions (%s) cover this one's",
		by.name, c.key, describeConds(cover.sender, cover.client))
}

// coveringSenders are the conditions that hold for every sender c holds for,
// c included.
func coveringSenders(c senderCond) []senderCond {
	out := []senderCond{{}, c}
	var domain string
	switch c.kind {
	case anySender:
		return out[:1]
	case nullSender:
		return out
	case senderAddr:
		local, d, _ := cutLastAt(c.value)
		if plus := strings.IndexByte(local, '+'); plus > 0 {
			out = append(out, senderCond{senderAddr, local[:plus] + "@" + d})
		}
		out = append(out, senderCond{senderDomain, d})
		domain = d
	case senderDomain:
		domain = c.value
	case senderParent:
		domain = c.value[1:]
	}
	parents(domain, func(p string) bool {
		out = append(out, senderCond{senderParent, p})
		return true
	})
	return out
}

// coveringClients are the networks that contain n (n included), among the
// lengths in use; the invalid Prefix stands for any client.
func (x *shadowIndex) coveringClients(n netip.Prefix) []netip.Prefix {
	out := []netip.Prefix{{}}
	if !n.IsValid() {
		return out
	}
	for bits := n.Bits(); bits >= 0; bits-- {
		if x.lens[prefixLen{n.Addr().Is4(), bits}] {
			p, _ := n.Addr().Prefix(bits)
			out = append(out, p)
		}
	}
	return out
}

func describeConds(s senderCond, n netip.Prefix) string {
	var parts []string
	switch s.kind {
	case nullSender:
		parts = append(parts, "sender=<>")
	case senderAddr, senderDomain, senderParent:
		parts = append(parts, "sender="+s.value)
	}
	if n.IsValid() {
		parts = append(parts, "client_network="+n.String())
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
