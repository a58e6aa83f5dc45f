package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"strings"
)

// ZoneConfig is one blocklist zone.
type ZoneConfig struct {
	Name string // "zen.spamhaus.org"; a trailing dot is dropped
	// Weight is added to the score when the zone lists the client. It must
	// be given: 0 makes the zone informational (reported, never scored).
	Weight float64
	// Codes are the accepted return codes in ParseCodes syntax; empty
	// accepts any 127.0.0.0/8 answer outside 127.255.255.0/24.
	Codes []string
}

// Resolver looks up A records. spamgate/dnsx.Resolver satisfies it. With
// network "ip4" it returns the A records of host; a failure is a
// *net.DNSError whose IsNotFound marks NXDOMAIN and NODATA.
type Resolver interface {
	LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Checker looks clients up in a fixed set of zones. It is safe for
// concurrent use. Zones are skipped until a health check has passed, so run
// Monitor (or CheckHealth) alongside.
type Checker struct {
	zones    []*zone
	namesLen int // summed zone-name length, to size query names at once
	resolver Resolver
	log      *slog.Logger
	// wake tells Monitor that a zone turned unhealthy between rounds, so
	// that it is re-checked on the short interval rather than the long one.
	wake chan struct{}
}

// zone is a configured zone and its health. Pointers, because the atomic
// health must not be copied.
type zone struct {
	name   string
	weight float64
	codes  CodeSet
	health healthBox
}

// New validates zones and returns a Checker that queries them through r.
// A nil log discards.
func New(zones []ZoneConfig, r Resolver, log *slog.Logger) (*Checker, error) {
	if r == nil {
		return nil, errors.New("dnsbl: no resolver")
	}
	if len(zones) == 0 {
		return nil, errors.New("dnsbl: no zones")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Checker{resolver: r, log: log, wake: make(chan struct{}, 1)}
	seen := make(map[string]bool, len(zones))
	for i, zc := range zones {
		z, err := newZone(zc)
		if err != nil {
			return nil, fmt.Errorf("dnsbl zone %d (%q): %w", i+1, zc.Name, err)
		}
		if seen[z.name] {
			return nil, fmt.Errorf("dnsbl zone %d (%q): listed twice", i+1, zc.Name)
		}
		seen[z.name] = true
		c.zones = append(c.zones, z)
		c.namesLen += len(z.name)
	}
	return c, nil
}

func newZone(zc ZoneConfig) (*zone, error) {
	name := normalizeZone(zc.Name)
	if err := checkZoneName(name); err != nil {
		return nil, err
	}
	// Negative weights (postscreen-style allowlists) are refused: a lookup
	// error would then raise the score, which breaks fail-open.
	if math.IsNaN(zc.Weight) || math.IsInf(zc.Weight, 0) || zc.Weight < 0 {
		return nil, fmt.Errorf("weight %v: must be a finite number, 0 or more", zc.Weight)
	}
	codes, err := ParseCodes(zc.Codes)
	if err != nil {
		return nil, err
	}
	z := &zone{name: name, weight: zc.Weight, codes: codes}
	z.health.init()
	return z, nil
}

func normalizeZone(name string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
}

// maxZoneLen leaves room for the 64-byte IPv6 prefix in a 253-byte name.
const maxZoneLen = 253 - 64

func checkZoneName(name string) error {
	if name == "" || len(name) > maxZoneLen {
		return fmt.Errorf("zone name must have 1 to %d characters", maxZoneLen)
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("bad label %q", label)
		}
		if strings.IndexFunc(label, notHostChar) >= 0 {
			return fmt.Errorf("bad character in label %q", label)
		}
	}
	return nil
}

// notHostChar allows letters, digits, '-' and '_' (legal in DNS labels;
// some private zones use it).
func notHostChar(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
}

// Zones returns the configured zone names in order, for explain and logs.
func (c *Checker) Zones() []string {
	names := make([]string, len(c.zones))
	for i, z := range c.zones {
		names[i] = z.name
	}
	return names
}

// find returns the zone called name, or nil.
func (c *Checker) find(name string) *zone {
	name = normalizeZone(name)
	for _, z := range c.zones {
		if z.name == name {
			return z
		}
	}
	return nil
}
