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
	// CacheSize is the most answers cached; 0: 10000; negative: no cache.
	CacheSize int
	// MaxTTL caps how long an answer is cached; 0: 1h.
	MaxTTL time.Duration
}

// Defaults for the zero fields of Config.
const (
	DefaultTimeout   = 2 * time.Second
	DefaultAttempts  = 2
	DefaultCacheSize = 10000
	DefaultMaxTTL    = time.Hour
)

const resolvConf = "/etc/resolv.conf"

// withDefaults validates c and fills in its zero fields.
func (c Config) withDefaults() (Config, error) {
	if c.Timeout < 0 || c.Attempts < 0 || c.MaxTTL < 0 {
		return c, errors.New("dnsx: negative Timeout, Attempts or MaxTTL")
	}
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.Attempts = cmp.Or(c.Attempts, DefaultAttempts)
	c.CacheSize = cmp.Or(c.CacheSize, DefaultCacheSize)
	c.MaxTTL = cmp.Or(c.MaxTTL, DefaultMaxTTL)
	servers, err := nameservers(c.Nameservers)
	if err != nil {
		return c, err
	}
	c.Nameservers = servers
	return c, nil
}

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
