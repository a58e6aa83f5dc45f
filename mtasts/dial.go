package mtasts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// dial connects to the policy host named in addr ("HOST:PORT" from the URL), resolving
// HOST with the client's Resolver instead of the system's, on the configured port.
// The addresses are tried in the order the resolver gives them.
func (c *Client) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("policy host address %q: %w", addr, err)
	}
	ips, err := c.opts.Resolver.LookupIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve policy host: %w", err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolve policy host %s: no addresses", host)
	}
	var errs []error
	for _, ip := range ips {
		nc, err := c.dialer.DialContext(ctx, "tcp", hostPort(ip, c.opts.Port))
		if err == nil {
			return nc, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("connect to policy host %s: %w", host, errors.Join(errs...))
}

func hostPort(ip netip.Addr, port int) string {
	return net.JoinHostPort(ip.Unmap().String(), strconv.Itoa(port))
}
