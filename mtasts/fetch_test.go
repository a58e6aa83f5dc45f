package mtasts_test

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"spamgate/mtasts"
)

// Every way a fetch must fail (RFC 8461 3.3): the lookup finds no policy (nothing was
// cached) and the log says why.
func TestFetchRefused(t *testing.T) {
	t.Parallel()
	padded := enforcePolicy + "pad: " + strings.Repeat("x", mtasts.DefaultMaxBodySize) + "\n"
	tests := []struct {
		name   string
		server func(ps *policyServer)
		cert   func(t *testing.T, r *rig) tls.Certificate // nil: a valid one
		opts   func(o *mtasts.Options)
		dns    string
		log    string
	}{
		{name: "redirect", server: func(ps *policyServer) {
			ps.status, ps.location = http.StatusFound, "https://mta-sts.example.test/elsewhere.txt"
		}, log: "302 Found"},
		{name: "permanent redirect", server: func(ps *policyServer) {
			ps.status, ps.location = http.StatusMovedPermanently, "/.well-known/mta-sts.txt?x"
		}, log: "301 Moved Permanently"},
		{name: "not found", server: func(ps *policyServer) { ps.status = http.StatusNotFound }, log: "404"},
		{name: "no content", server: func(ps *policyServer) { ps.status = http.StatusNoContent }, log: "204"},
		{name: "content type html", server: func(ps *policyServer) { ps.ctype = "text/html" }, log: "Content-Type"},
		{name: "content type missing", server: func(ps *policyServer) { ps.ctype = "" }, log: "Content-Type"},
		{name: "oversized body", server: func(ps *policyServer) { ps.body = padded }, log: "larger than 65536"},
		{name: "body over a set limit", server: func(ps *policyServer) {},
			opts: func(o *mtasts.Options) { o.MaxBodySize = 64 }, log: "larger than 64"},
		{name: "invalid policy", server: func(ps *policyServer) { ps.body = "<html>oops</html>" }, log: "policy line 1"},
		{name: "certificate for another name", cert: func(t *testing.T, r *rig) tls.Certificate {
			return r.ca.valid(t, "mta-sts.other.test")
		}, log: "certificate is valid for mta-sts.other.test, not mta-sts.example.test"},
		{name: "certificate for the domain itself", cert: func(t *testing.T, r *rig) tls.Certificate {
			return r.ca.valid(t, domain)
		}, log: "not mta-sts.example.test"},
		{name: "certificate from an unknown CA", cert: func(t *testing.T, r *rig) tls.Certificate {
			return newCA(t).valid(t, policyHost)
		}, log: "certificate signed by unknown authority"},
		{name: "expired certificate", cert: func(t *testing.T, r *rig) tls.Certificate {
			return r.ca.issue(t, policyHost, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
		}, log: "expired"},
		{name: "system roots", opts: func(o *mtasts.Options) { o.RootCAs = nil }, log: "certificate"},
		{name: "no address for the policy host", dns: `_mta-sts.example.test. 60 IN TXT "v=STSv1; id=1;"` + "\n", log: "resolve policy host"},
		{name: "nothing listening", dns: `_mta-sts.example.test. 60 IN TXT "v=STSv1; id=1;"` + "\nmta-sts.example.test. 60 IN A 127.0.0.2\n",
			log: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, enforcePolicy, tt.opts)
			if tt.server != nil {
				r.server.set(tt.server)
			}
			if tt.cert != nil {
				r.server.TLS.Certificates = []tls.Certificate{tt.cert(t, r)}
			}
			if tt.dns != "" {
				r.dns.set(tt.dns)
			}
			r.mustNone(t)
			if !logsContain(r.logs, "no policy in force") || !logsContain(r.logs, tt.log) {
				t.Errorf("log lacks %q:\n%s", tt.log, r.logs)
			}
			if got := r.server.requested(); len(got) > 1 {
				t.Errorf("requests %q: a redirect was followed", got)
			}
		})
	}
}

// A server slower than Options.Timeout fails the fetch at the timeout.
func TestFetchTimeout(t *testing.T) {
	t.Parallel()
	r := newRig(t, enforcePolicy, func(o *mtasts.Options) { o.Timeout = 200 * time.Millisecond })
	r.server.set(func(ps *policyServer) { ps.delay = 5 * time.Second })
	start := time.Now()
	r.mustNone(t)
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Errorf("lookup took %v, want about 200ms", d)
	}
	if !logsContain(r.logs, "context deadline exceeded") {
		t.Errorf("log lacks the timeout:\n%s", r.logs)
	}
}

// What a fetch accepts: any text/plain, a body exactly at the limit.
func TestFetchAccepted(t *testing.T) {
	t.Parallel()
	atLimit := enforcePolicy + "pad: "
	atLimit += strings.Repeat("x", mtasts.DefaultMaxBodySize-len(atLimit)-1) + "\n"
	tests := []struct {
		name   string
		server func(ps *policyServer)
	}{
		{"text/plain", func(ps *policyServer) { ps.ctype = "text/plain" }},
		{"charset", func(ps *policyServer) { ps.ctype = "text/plain; charset=us-ascii" }},
		{"upper case", func(ps *policyServer) { ps.ctype = "Text/Plain" }},
		{"body at the limit", func(ps *policyServer) { ps.body = atLimit }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, enforcePolicy, nil)
			r.server.set(tt.server)
			r.mustLookup(t, "1", mtasts.ModeEnforce)
		})
	}
}
