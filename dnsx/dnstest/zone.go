package dnstest

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Zone is the data a Server answers from: records plus failure rules. It is
// safe for concurrent use, so a test may change it while a server runs.
type Zone struct {
	mu     sync.RWMutex
	nodes  map[string]*node // canonical name → records; empty non-terminals have a node without records
	rules  map[ruleKey]action
	negTTL uint32 // seconds, for the synthesized SOA
}

// node is one owner name. rrs is nil for an empty non-terminal.
type node struct {
	rrs map[uint16][]dns.RR
}

type ruleKey struct {
	name  string
	qtype uint16
}

// action is what a rule does to a matching query.
type action int

const (
	actAnswer   action = iota // the normal answering rules
	actTimeout                // never answer
	actServFail               // answer SERVFAIL
)

// defaultNegativeTTL is the TTL and MINIMUM of the synthesized SOA.
const defaultNegativeTTL = 60 * time.Second

// NewZone returns an empty zone: every name is NXDOMAIN.
func NewZone() *Zone {
	return &Zone{
		nodes:  make(map[string]*node),
		rules:  make(map[ruleKey]action),
		negTTL: uint32(defaultNegativeTTL / time.Second),
	}
}

// Add stores copies of rrs, so the caller may reuse them.
func (z *Zone) Add(rrs ...dns.RR) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, rr := range rrs {
		z.add(dns.Copy(rr))
	}
}

func (z *Zone) add(rr dns.RR) {
	name := canonicalName(rr.Header().Name)
	n := z.nodes[name]
	if n == nil {
		n = &node{}
		z.nodes[name] = n
	}
	if n.rrs == nil {
		n.rrs = make(map[uint16][]dns.RR)
	}
	t := rr.Header().Rrtype
	n.rrs[t] = append(n.rrs[t], rr)
	// Ancestors exist too (as empty non-terminals), so that asking for
	// them gives NODATA, as a real server does.
	for p, ok := parent(name); ok; p, ok = parent(p) {
		if z.nodes[p] != nil {
			break
		}
		z.nodes[p] = &node{}
	}
}

// AddText parses RFC 1035 zone-file text and adds its records. $ORIGIN and
// $TTL are allowed; names without a trailing dot are relative to the root
// until an $ORIGIN says otherwise. Nothing is added if the text has an error.
func (z *Zone) AddText(text string) error {
	rrs, err := parse(strings.NewReader(text), ".", "", false)
	if err != nil {
		return fmt.Errorf("dnstest: zone text: %w", err)
	}
	z.Add(rrs...)
	return nil
}

// LoadZoneFile parses a zone file ($INCLUDE allowed) into a new Zone. origin
// is the initial $ORIGIN; "" means the root.
func LoadZoneFile(path, origin string) (*Zone, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dnstest: %w", err)
	}
	defer f.Close()
	if origin == "" {
		origin = "."
	}
	rrs, err := parse(f, dns.Fqdn(origin), path, true)
	if err != nil {
		return nil, fmt.Errorf("dnstest: zone file %s: %w", path, err)
	}
	z := NewZone()
	z.Add(rrs...)
	return z, nil
}

func parse(r io.Reader, origin, file string, includes bool) ([]dns.RR, error) {
	zp := dns.NewZoneParser(r, origin, file)
	zp.SetIncludeAllowed(includes)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	return rrs, zp.Err()
}

// Timeout makes queries for (name, qtype) go unanswered. qtype dns.TypeANY
// matches every type without records at name. Records win over rules: a
// rule only applies where the zone has nothing to answer.
func (z *Zone) Timeout(name string, qtype uint16) { z.setRule(name, qtype, actTimeout) }

// ServFail makes queries for (name, qtype) get SERVFAIL; matching as Timeout.
func (z *Zone) ServFail(name string, qtype uint16) { z.setRule(name, qtype, actServFail) }

func (z *Zone) setRule(name string, qtype uint16, a action) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.rules[ruleKey{canonicalName(name), qtype}] = a
}

// SetNegativeTTL sets the TTL and MINIMUM of the synthesized SOA that
// negative answers carry (whole seconds). A SOA of the zone's own data is
// answered as it is.
func (z *Zone) SetNegativeTTL(d time.Duration) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.negTTL = uint32(d / time.Second)
}

// QuoteTXT writes a TXT value as zone-file character-strings of at most 255
// bytes each, for AddText or a zone file (an RSA-2048 DKIM key does not fit
// in one). The value must not hold '"' or '\'.
func QuoteTXT(s string) string {
	var b strings.Builder
	for {
		n := min(len(s), 255)
		b.WriteString(`"` + s[:n] + `"`)
		if s = s[n:]; s == "" {
			return b.String()
		}
		b.WriteByte(' ')
	}
}
