package checks

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"spamgate/dnsbl"
	"spamgate/spf"
)

// fakeDNS answers MX and address lookups from maps; errors are the
// *net.DNSError values dnsx returns.
type fakeDNS struct {
	mx    map[string][]*net.MX
	addrs map[string][]netip.Addr
	errs  map[string]error // by "MX name" or "IP name"
}

func (f fakeDNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if err := f.errs["MX "+name]; err != nil {
		return nil, err
	}
	if mx, ok := f.mx[name]; ok {
		return mx, nil
	}
	return nil, &net.DNSError{Err: "no such record", Name: name, IsNotFound: true}
}

func (f fakeDNS) LookupIP(_ context.Context, _, name string) ([]netip.Addr, error) {
	if err := f.errs["IP "+name]; err != nil {
		return nil, err
	}
	if a, ok := f.addrs[name]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such record", Name: name, IsNotFound: true}
}

var (
	nxdomain = &net.DNSError{Err: "no such host", IsNotFound: true}
	servfail = &net.DNSError{Err: "server misbehaving", IsTemporary: true}
	timeout  = &net.DNSError{Err: "i/o timeout", IsTimeout: true, IsTemporary: true}
)

func TestCheckSenderDomain(t *testing.T) {
	dns := fakeDNS{
		mx: map[string][]*net.MX{
			"mx.example":            {{Host: "mail.mx.example.", Pref: 10}},
			"null.example":          {{Host: ".", Pref: 0}},
			"halfnull.example":      {{Host: ".", Pref: 0}, {Host: "mail.halfnull.example.", Pref: 10}},
			"xn--bcher-kva.example": {{Host: "mail.example.", Pref: 10}},
		},
		addrs: map[string][]netip.Addr{"a.example": {netip.MustParseAddr("192.0.2.1")}},
		errs: map[string]error{
			"MX nx.example": nxdomain, "MX sf.example": servfail, "MX to.example": timeout,
			"IP addrsf.example": servfail,
		},
	}
	tests := []struct {
		domain string
		want   DomainStatus
		reply  string
	}{
		{"mx.example", DomainExists, ""},
		{"a.example", DomainExists, ""},
		{"null.example", DomainNullMX, "550 5.7.27"},
		{"halfnull.example", DomainExists, ""},
		{"nx.example", DomainNotFound, "550 5.1.8"},
		{"nothing.example", DomainNotFound, "550 5.1.8"},
		{"sf.example", DomainTempError, "451 4.4.3"},
		{"to.example", DomainTempError, "451 4.4.3"},
		{"addrsf.example", DomainTempError, "451 4.4.3"},
		{"bücher.example", DomainExists, ""}, // IDN: looked up as its A-label
		{"", DomainSkipped, ""},
	}
	for _, tt := range tests {
		res := CheckSenderDomain(context.Background(), dns, tt.domain)
		if res.Status != tt.want {
			t.Errorf("%q: status %s (%s), want %s", tt.domain, res.Status, res.Detail, tt.want)
		}
		v := res.Decide()
		got := ""
		if v.Reply != nil {
			got = v.Reply.String()
		}
		if !strings.HasPrefix(got, tt.reply) || (tt.reply == "") != (got == "") {
			t.Errorf("%q: reply %q, want %q…", tt.domain, got, tt.reply)
		}
	}
}

func TestSenderDomain(t *testing.T) {
	for in, want := range map[string]string{
		"user@example.org": "example.org", "user@Example.ORG.": "Example.ORG", "a@b@c.example": "c.example",
		"": "", "MAILER-DAEMON": "", "user@[192.0.2.1]": "", "user@": "",
	} {
		if got := SenderDomain(in); got != want {
			t.Errorf("SenderDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecideSPF(t *testing.T) {
	tests := []struct {
		result spf.Result
		policy SPFPolicy
		reply  string
	}{
		{spf.Fail, SPFPolicy{}, ""},
		{spf.Fail, SPFPolicy{RejectFail: true}, "550 5.7.23 SPF validation failed"},
		{spf.SoftFail, SPFPolicy{RejectFail: true, RejectErrors: true}, ""},
		{spf.TempError, SPFPolicy{RejectFail: true}, ""},
		{spf.TempError, SPFPolicy{RejectErrors: true}, "451 4.7.24 SPF validation error"},
		{spf.PermError, SPFPolicy{RejectErrors: true}, "550 5.7.24 SPF validation error"},
		{spf.Pass, SPFPolicy{RejectFail: true, RejectErrors: true}, ""},
	}
	for _, tt := range tests {
		v := DecideSPF(spf.Outcome{Result: tt.result}, tt.policy)
		got := ""
		if v.Reply != nil {
			got = v.Reply.String()
		}
		if got != tt.reply {
			t.Errorf("%s with %+v: %q, want %q", tt.result, tt.policy, got, tt.reply)
		}
	}
}

func TestDecideDNSBL(t *testing.T) {
	client := netip.MustParseAddr("::ffff:192.0.2.99")
	r := dnsbl.Result{Score: 3, Zones: []dnsbl.ZoneResult{
		{Zone: "light.example", Weight: 1, Status: dnsbl.Listed},
		{Zone: "heavy.example", Weight: 2, Status: dnsbl.Listed},
	}}
	v := DecideDNSBL(r, client, 3)
	if v.Reply == nil || v.Reply.String() != "554 5.7.1 Service unavailable; client [192.0.2.99] blocked using heavy.example" {
		t.Errorf("got %+v", v.Reply)
	}
	if v := DecideDNSBL(r, client, 3.5); v.Reply != nil {
		t.Errorf("below threshold refused: %v", v.Reply)
	}
}

// Text that reaches Postfix: '%' doubled (Postfix drops a single one) and
// anything that could split the reply line neutralized.
func TestReplyMilter(t *testing.T) {
	r := Reply{550, "5.7.23", "SPF validation failed: 100% not yours\r\n250 ok"}
	if got, want := r.Milter(), "550 5.7.23 SPF validation failed: 100%% not yours  250 ok"; got != want {
		t.Errorf("Milter() = %q, want %q", got, want)
	}
}
