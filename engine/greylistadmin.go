package engine

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"spamgate/config"
	"spamgate/greylist"
)

// The greylist administration shared by `spamgate greylist` and the admin
// console: the same keys, parameters and whitelist entries, so that a
// release or whitelist made in either is the one the milter sees.

// GreylistParams are the [greylist] timings and key sizes.
func GreylistParams(cfg *config.Config) greylist.Params {
	g := cfg.Greylist
	return greylist.Params{Delay: g.Delay.Duration, RetryWindow: g.RetryWindow.Duration, PassTTL: g.PassTTL.Duration,
		AWLCount: g.AWLCount, AWLTTL: g.AWLTTL.Duration, IPv4Bits: g.IPv4Prefix, IPv6Bits: g.IPv6Prefix}
}

// GreylistKey is the triplet key of a client (or, when SPF passed, its
// SPF-authorized domain), a sender and a recipient, as the milter makes it.
func GreylistKey(cfg *config.Config, client, spfDomain, sender, rcpt string) (greylist.Key, error) {
	ip, err := netip.ParseAddr(client)
	if err != nil && spfDomain == "" {
		return greylist.Key{}, errors.New("client: want an IP address (or the SPF domain)")
	}
	if rcpt == "" {
		return greylist.Key{}, errors.New("recipient: the recipient is part of the triplet")
	}
	r := greylist.Request{Client: ip, SPFDomain: spfDomain, Sender: sender, Rcpt: rcpt}
	return greylist.MakeKey(r, GreylistParams(cfg)), nil
}

// GreylistWhitelistEntry makes a whitelist entry: a network (CIDR, or one
// address) or a sender domain; ttl 0 keeps it for good.
func GreylistWhitelistEntry(network, domain string, ttl time.Duration, now time.Time) (greylist.WhitelistEntry, error) {
	if (network == "") == (domain == "") {
		return greylist.WhitelistEntry{}, errors.New("give a network (CIDR) or a sender domain")
	}
	w := greylist.WhitelistEntry{Kind: greylist.KindDomain, Value: strings.ToLower(domain)}
	if network != "" {
		p, err := netip.ParsePrefix(network)
		if err != nil {
			a, aerr := netip.ParseAddr(network)
			if aerr != nil {
				return greylist.WhitelistEntry{}, fmt.Errorf("network: %w", err)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		w = greylist.WhitelistEntry{Kind: greylist.KindNetwork, Value: p.Masked().String()}
	}
	if ttl > 0 {
		w.Expires = now.Add(ttl)
	}
	return w, nil
}
