package spf_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"spamgate/spf"
)

// Hostile input (docs/HOSTILE.md): records built to loop or to outrun the
// limits of RFC 7208 4.6.4 end in permerror after at most 10 DNS-querying
// terms, quickly; records split into many strings are one record.
func TestHostileSPFLoopsAndLimits(t *testing.T) {
	var chain strings.Builder
	for i := range 12 {
		fmt.Fprintf(&chain, "chain%d.example. TXT \"v=spf1 include:chain%d.example -all\"\n", i, i+1)
	}
	chain.WriteString("chain12.example. TXT \"v=spf1 +all\"\n")
	var split strings.Builder
	split.WriteString(`split.example. TXT "v=spf1 "`)
	for i := range 298 {
		fmt.Fprintf(&split, ` "ip4:198.51.%d.%d "`, i/250, i%250)
	}
	split.WriteString(` "ip4:192.0.2.10 -all"` + "\n")
	r := zoneResolver(t, `
loopa.example. TXT "v=spf1 include:loopb.example -all"
loopb.example. TXT "v=spf1 include:loopa.example -all"
self.example.  TXT "v=spf1 include:self.example -all"
redir.example. TXT "v=spf1 redirect=redir.example"
ra.example.    TXT "v=spf1 redirect=rb.example"
rb.example.    TXT "v=spf1 redirect=ra.example"
wide.example.  TXT "v=spf1 a:a1.wide.example a:a2.wide.example a:a3.wide.example a:a4.wide.example a:a5.wide.example a:a6.wide.example a:a7.wide.example a:a8.wide.example a:a9.wide.example a:a10.wide.example a:a11.wide.example -all"
void.example.  TXT "v=spf1 a:n1.void.example a:n2.void.example a:n3.void.example -all"
macroloop.example. TXT "v=spf1 include:%{d} -all"
`+chain.String()+split.String(), wideAddresses())
	tests := []struct {
		domain string
		want   spf.Result
		reason string
	}{
		{"loopa.example", spf.PermError, "DNS lookup limit (10) exceeded"},
		{"self.example", spf.PermError, "DNS lookup limit (10) exceeded"},
		{"redir.example", spf.PermError, "DNS lookup limit (10) exceeded"},
		{"ra.example", spf.PermError, "DNS lookup limit (10) exceeded"},
		{"macroloop.example", spf.PermError, "DNS lookup limit (10) exceeded"},
		{"chain0.example", spf.PermError, "DNS lookup limit (10) exceeded"},
		{"wide.example", spf.PermError, "DNS lookup limit (10) exceeded"},
		{"void.example", spf.PermError, "void lookup limit (2) exceeded"},
		{"split.example", spf.Pass, ""},
	}
	ip := netip.MustParseAddr("192.0.2.10")
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			o := spf.Check(ctx, r, spf.Request{IP: ip, Helo: "mx.example", Sender: "user@" + tt.domain, Receiver: "mx.test"})
			if took := time.Since(start); took > time.Second {
				t.Errorf("took %v", took)
			}
			if o.Result != tt.want || !strings.Contains(o.Reason, tt.reason) {
				t.Errorf("%s: %s (%s), want %s (%s)", tt.domain, o.Result, o.Reason, tt.want, tt.reason)
			}
			if o.Lookups > 11 {
				t.Errorf("%d lookups counted", o.Lookups)
			}
		})
	}
}

// wideAddresses gives the 11 names of wide.example an address each.
func wideAddresses() string {
	var b strings.Builder
	for i := 1; i <= 11; i++ {
		fmt.Fprintf(&b, "a%d.wide.example. A 198.51.100.%d\n", i, i)
	}
	return b.String()
}

// SMTPUTF8 (RFC 8616 section 4): a U-label sender domain is checked as its
// A-labels, and macros expand to the A-label form; the local-part stays.
func TestHostileSPFUTF8(t *testing.T) {
	r := zoneResolver(t, `
xn--bcher-kva.example. TXT "v=spf1 exists:%{o}.ok.example -all"
xn--bcher-kva.example.ok.example. A 127.0.0.2
`)
	ip := netip.MustParseAddr("192.0.2.10")
	o := spf.Check(context.Background(), r, spf.Request{IP: ip, Helo: "mx.example", Sender: "jürgen@bücher.example"})
	if o.Result != spf.Pass || o.Domain != "xn--bcher-kva.example" {
		t.Errorf("U-label sender: %+v", o)
	}
	// A null sender with a U-label HELO name (which RFC 6531 forbids).
	o = spf.Check(context.Background(), r, spf.Request{IP: ip, Helo: "bücher.example"})
	if o.Result != spf.Pass || o.Identity != spf.IdentityHelo {
		t.Errorf("U-label HELO: %+v", o)
	}
	// Not UTF-8, or refused by IDNA: no such domain.
	for _, sender := range []string{"x@\xff\xfe.example", "x@-bad-ü-.example", "x@ü..example"} {
		o = spf.Check(context.Background(), r, spf.Request{IP: ip, Helo: "mx.example", Sender: sender})
		if o.Result != spf.None {
			t.Errorf("%q: %+v", sender, o)
		}
	}
}
