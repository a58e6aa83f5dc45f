package dnsx

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/miekg/dns"
)

// Config configures a Resolver. The zero value is usable: the nameservers
// of /etc/resolv.conf, with the defaults below.
type Config struct {
	// Nameservers are the recursive servers to ask, in order, as
	// "HOST:PORT" ("[::1]:53" for IPv6); a bare IP address means port 53.
	// Empty: the nameservers of /etc/resolv.conf.
	Nameservers []string
	// Timeout is the deadline of one query attempt to one server; 0: 2s.
	Timeout time.Duration
	// Attempts is how many times the nameserver list is gone round before
	// a lookup gives up, as resolv.conf's "attempts"; 0: 2. The caller's
	// ctx bounds all of them.
	Attempts int
	// CacheBytes bounds the cache by the heap its answers hold (an
	// estimate, see answer.heapBytes); 0: 64 MiB; negative: no cache.
	CacheBytes int64
	// CacheSize, when positive, also bounds the number of answers cached:
	// each answer is charged at least CacheBytes/CacheSize. 0: no count
	// bound (the byte bound alone); negative: no cache. It was the only
	// bound before CacheBytes, and stays for configurations that set it.
	CacheSize int
	// MaxAnswerBytes is the largest answer cached (same estimate); bigger
	// ones are returned to their caller but not kept. 0: 16 KiB.
	MaxAnswerBytes int
	// MaxInflight bounds the queries in flight to nameservers across the
	// process (a lookup the cache answers takes none); beyond it a query
	// waits for a slot within its ctx. 0: 512; negative: no bound.
	MaxInflight int
	// MaxTTL caps how long an answer is cached; 0: 1h.
	MaxTTL time.Duration
}

// Defaults for the zero fields of Config.
const (
	DefaultTimeout        = 2 * time.Second
	DefaultAttempts       = 2
	DefaultCacheBytes     = 64 << 20
	DefaultMaxAnswerBytes = 16 << 10
	DefaultMaxInflight    = 512
	DefaultMaxTTL         = time.Hour
)

const resolvConf = "/etc/resolv.conf"

// withDefaults validates c and fills in its zero fields.
func (c Config) withDefaults() (Config, error) {
	if c.Timeout < 0 || c.Attempts < 0 || c.MaxTTL < 0 || c.MaxAnswerBytes < 0 {
		return c, errors.New("dnsx: negative Timeout, Attempts, MaxTTL or MaxAnswerBytes")
	}
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.Attempts = cmp.Or(c.Attempts, DefaultAttempts)
	c.CacheBytes = cmp.Or(c.CacheBytes, DefaultCacheBytes)
	c.MaxAnswerBytes = cmp.Or(c.MaxAnswerBytes, DefaultMaxAnswerBytes)
	c.MaxInflight = cmp.Or(c.MaxInflight, DefaultMaxInflight)
	c.MaxTTL = cmp.Or(c.MaxTTL, DefaultMaxTTL)
	servers, err := nameservers(c.Nameservers)
	if err != nil {
		return c, err
	}
	c.Nameservers = servers
	return c, nil
}

// cached reports whether c asks for a cache at all.
func (c Config) cached() bool { return c.CacheBytes > 0 && c.CacheSize >= 0 }

// nameservers normalises the configured list, or reads resolv.conf.
func nameservers(list []string) ([]string, error) {
	if len(list) == 0 {
		return resolvConfServers()
	}
	out := make([]string, 0, len(list))
	for _, s := range list {
		hp, err := hostPort(s)
		if err != nil {
			return nil, err
		}
		out = append(out, hp)
	}
	return out, nil
}

// hostPort checks a "HOST:PORT" and gives a bare IP address port 53.
func hostPort(s string) (string, error) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return net.JoinHostPort(ip.String(), "53"), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("dnsx: nameserver %q: want HOST:PORT", s)
	}
	return s, nil
}

func resolvConfServers() ([]string, error) {
	f, err := os.Open(resolvConf)
	if err != nil {
		return nil, fmt.Errorf("dnsx: no nameservers configured: %w", err)
	}
	defer f.Close()
	return parseResolvConf(f)
}

// parseResolvConf returns the nameservers of a resolv.conf as HOST:PORT.
func parseResolvConf(r io.Reader) ([]string, error) {
	cc, err := dns.ClientConfigFromReader(r)
	if err != nil {
		return nil, fmt.Errorf("dnsx: reading %s: %w", resolvConf, err)
	}
	if len(cc.Servers) == 0 {
		return nil, fmt.Errorf("dnsx: no nameserver in %s", resolvConf)
	}
	out := make([]string, len(cc.Servers))
	for i, s := range cc.Servers {
		out[i] = net.JoinHostPort(s, cc.Port)
	}
	return out, nil
}
