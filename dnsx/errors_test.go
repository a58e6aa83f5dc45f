package dnsx_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"spamgate/dnsx"
)

func TestNotFoundClassification(t *testing.T) {
	r, s, z := setup(t)
	z.ServFail("broken.example.test", dns.TypeANY)
	z.ServFail("v4only.example.test", dns.TypeAAAA)
	ctx := context.Background()
	txt := func(name string) error { _, err := r.LookupTXT(ctx, name); return err }
	mx := func(name string) error { _, err := r.LookupMX(ctx, name); return err }
	ip := func(network string) func(string) error {
		return func(name string) error { _, err := r.LookupIP(ctx, network, name); return err }
	}
	ptr := func(name string) error { _, err := r.LookupAddr(ctx, netip.MustParseAddr(name)); return err }

	tests := []struct {
		name     string
		lookup   func(string) error
		arg      string
		nxdomain bool // else NODATA
		errText  string
	}{
		{"TXT nxdomain", txt, "nope.example.test", true, "no such host"},
		{"TXT nodata", txt, "mx1.example.test", false, "no such record"},
		{"TXT empty non-terminal", txt, "arpa", false, "no such record"},
		{"MX nodata", mx, "mx1.example.test", false, "no such record"},
		{"MX nxdomain via CNAME", mx, "deadend.example.test", true, "no such host"},
		{"A nodata via CNAME", ip("ip6"), "alias.example.test", false, "no such record"},
		{"ip both nxdomain", ip("ip"), "nope.example.test", true, "no such host"},
		{"ip both nodata", ip("ip"), "nullmx.example.test", false, "no such record"},
		{"PTR nxdomain", ptr, "192.0.2.200", true, "no such host"},
		{"invalid name", txt, "a..b.example.test", true, "no such host"},
		{"label too long", txt, strings.Repeat("a", 64) + ".test", true, "no such host"},
		{"ip4 literal asked as ip6", ip("ip6"), "192.0.2.1", false, "no suitable address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.lookup(tt.arg)
			de := dnsError(t, err)
			if !de.IsNotFound || de.IsTemporary || de.IsTimeout || de.Err != tt.errText {
				t.Fatalf("got %+v", de)
			}
			if got := dnsx.IsNXDomain(err); got != tt.nxdomain {
				t.Fatalf("IsNXDomain = %v, want %v", got, tt.nxdomain)
			}
			if !dnsx.IsNotFound(err) || dnsx.IsTemporary(err) {
				t.Fatal("helpers disagree with the fields")
			}
		})
	}
	t.Run("fields", func(t *testing.T) {
		de := dnsError(t, txt("Nope.example.test"))
		if de.Name != "Nope.example.test" || de.Server != s.Addr {
			t.Fatalf("Name %q Server %q", de.Name, de.Server)
		}
	})
	t.Run("servfail", func(t *testing.T) {
		for _, err := range []error{txt("broken.example.test"), ip("ip")("broken.example.test")} {
			de := dnsError(t, err)
			if !de.IsTemporary || de.IsNotFound || de.IsTimeout || !dnsx.IsTemporary(err) {
				t.Fatalf("got %+v", de)
			}
		}
	})
	t.Run("ip with one family failing", func(t *testing.T) {
		if err := ip("ip")("v4only.example.test"); err != nil { // SERVFAIL on AAAA, A answers
			t.Fatalf("addresses of one family must do: %v", err)
		}
	})
	t.Run("unknown network", func(t *testing.T) {
		de := dnsError(t, ip("tcp")("example.test"))
		if de.IsNotFound || de.IsTemporary {
			t.Fatalf("got %+v", de)
		}
	})
}

func TestHelpers(t *testing.T) {
	nx := &net.DNSError{Err: "no such host", IsNotFound: true}
	nodata := &net.DNSError{Err: "no such record", IsNotFound: true}
	timeout := &net.DNSError{Err: "i/o timeout", IsTimeout: true}
	tests := []struct {
		err                        error
		notFound, nxdomain, tempor bool
	}{
		{nx, true, true, false},
		{nodata, true, false, false},
		{timeout, false, false, true},
		{fmt.Errorf("wrapped: %w", nx), true, true, false},
		{errors.New("other"), false, false, false},
		{nil, false, false, false},
	}
	for i, tt := range tests {
		if dnsx.IsNotFound(tt.err) != tt.notFound || dnsx.IsNXDomain(tt.err) != tt.nxdomain || dnsx.IsTemporary(tt.err) != tt.tempor {
			t.Errorf("case %d (%v): wrong classification", i, tt.err)
		}
	}
}
