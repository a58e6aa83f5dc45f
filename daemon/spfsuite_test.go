package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"testing"
	"time"

	"spamgate/config"
	"spamgate/dnsx/dnstest"
	"spamgate/internal/miltertest"
	"spamgate/internal/spfsuite"
	"spamgate/spf"
)

// suiteConfig runs SPF alone, recording only, so that every result shows up
// in Authentication-Results; the short DNS timeout keeps the suite's
// TIMEOUT cases fast.
const suiteConfig = `
[milter]
listen = "inet:127.0.0.1:0"
authserv_id = "mx.test"
internal_networks = []
check_timeout = "5s"
[log]
level = "warn"
[dns]
nameservers = ["%s"]
timeout = "150ms"
[dnsbl]
enabled = false
[sender_domain]
enabled = false
`

var spfEntry = regexp.MustCompile(`\bspf=([a-z]+)`)

// TestSPFSuiteThroughMilter runs every test of the RFC 7208 suite
// (testdata/spf, see its README for the origin) through the real milter: a
// loopback DNS server serves each scenario's zone, go-milter's client plays
// Postfix, and the result is read from the Authentication-Results header.
func TestSPFSuiteThroughMilter(t *testing.T) {
	scenarios, err := spfsuite.Load("../testdata/spf/rfc7208-tests.yml")
	if err != nil {
		t.Fatal(err)
	}
	total, passed := 0, 0
	var failures []string
	for _, sc := range scenarios {
		addr := startSuiteDaemon(t, sc)
		for _, tc := range sc.Tests {
			total++
			got, err := runSuiteTest(addr, tc)
			if err != nil {
				failures = append(failures, fmt.Sprintf("%s: %v", tc.Name, err))
				continue
			}
			if !tc.Accepts(got) {
				failures = append(failures, fmt.Sprintf("%s (%s): got %s, want %v", tc.Name, tc.Spec, got, tc.Results))
				continue
			}
			passed++
		}
	}
	t.Logf("RFC 7208 suite through the milter: %d of %d passed", passed, total)
	for _, f := range failures {
		t.Log("failed: " + f)
	}
	if passed < 200 {
		t.Errorf("only %d of %d suite tests passed, want at least 200", passed, total)
	}
}

func startSuiteDaemon(t *testing.T, sc spfsuite.Scenario) string {
	t.Helper()
	z := dnstest.NewZone()
	z.Add(sc.Records...)
	for _, r := range sc.Rules {
		z.Timeout(r.Name, r.Qtype)
	}
	srv := dnstest.Start(t, z)
	cfg, err := config.Parse("suite.toml", fmt.Appendf(nil, suiteConfig, srv.Addr))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Start(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Shutdown(ctx)
	})
	return d.Addr().String()
}

func runSuiteTest(addr string, tc spfsuite.Test) (spf.Result, error) {
	ip, err := tc.Addr()
	if err != nil {
		return "", err
	}
	res, err := miltertest.Run(addr, miltertest.Tx{
		ClientIP: ip.Unmap().String(), // Postfix reports IPv4-mapped clients as IPv4
		Helo:     tc.Helo,
		From:     tc.MailFrom,
		Rcpts:    []string{"postmaster@example.net"},
		Headers:  [][2]string{{"Subject", " suite"}},
	})
	if err != nil {
		return "", err
	}
	ar := res.Header("Authentication-Results")
	if len(ar) != 1 {
		return "", fmt.Errorf("want one Authentication-Results, got %q", ar)
	}
	m := spfEntry.FindStringSubmatch(ar[0])
	if m == nil {
		return "", fmt.Errorf("no spf= in %q", ar[0])
	}
	return spf.Result(m[1]), nil
}
