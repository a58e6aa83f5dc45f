package mtarig

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"spamgate/dnsx/dnstest"
	"spamgate/internal/postfixtest"
)

// Config is what differs between the harnesses' spamgate configurations.
// Every check is on (the defaults, written out so that a changed default
// does not silently change a load test), logging is at info, one line per
// message, and greylisting is for every client in a real redis-server
// (mode "always", auto-whitelist off): each RCPT costs one store round trip.
// The string fields are TOML durations; "" leaves spamgate's default.
type Config struct {
	Listen       string // [milter] listen without "inet:": "127.0.0.1:0" for a free port; or "unix:PATH"
	CheckTimeout string // [milter] check_timeout

	Nameserver string // [dns] nameservers: the test DNS server
	DNSTimeout string // [dns] timeout
	CacheSize  int    // [dns] cache_size: 0 is spamgate's default, negative no cache

	HealthInterval string // [dnsbl] health_interval

	Redis           string // [greylist.redis] addresses
	GreylistDelay   string // [greylist] delay
	GreylistTimeout string // [greylist] timeout
	OnStoreError    string // [greylist] on_store_error

	HistoryDir string // [admin] history_dir: the decision history, on as in a packaged install; "" off
}

// TOML is the configuration file's text.
func (c Config) TOML() string {
	var b strings.Builder
	opt := func(key, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%s = %q\n", key, value)
		}
	}
	listen := "inet:" + c.Listen
	if strings.HasPrefix(c.Listen, "unix:") {
		listen = c.Listen
	}
	fmt.Fprintf(&b, "\n[milter]\nlisten = %q\nauthserv_id = \"mx.test\"\ninternal_networks = []\n", listen)
	if listen == c.Listen {
		b.WriteString("socket_mode = \"0666\"\n") // smtpd connects as postfix and must write to it
	}
	opt("check_timeout", c.CheckTimeout)
	b.WriteString("[log]\nlevel = \"info\"\n")
	fmt.Fprintf(&b, "[dns]\nnameservers = [%q]\n", c.Nameserver)
	opt("timeout", c.DNSTimeout)
	fmt.Fprintf(&b, "cache_size = %d\n", c.CacheSize)
	b.WriteString("[dnsbl]\nenabled = true\nthreshold = 2\n")
	opt("health_interval", c.HealthInterval)
	b.WriteString(`[[dnsbl.zone]]
name = "bl.test"
weight = 2
[[dnsbl.zone]]
name = "light.test"
weight = 1
[sender_domain]
enabled = true
[spf]
enabled = true
[dkim]
enabled = true
[dmarc]
enabled = true
[iprev]
enabled = true
[score]
enabled = true
[greylist]
mode = "always"
store = "redis"
`)
	opt("delay", c.GreylistDelay)
	b.WriteString("awl_count = 0\n")
	opt("on_store_error", c.OnStoreError)
	opt("timeout", c.GreylistTimeout)
	fmt.Fprintf(&b, "[greylist.redis]\naddresses = [%q]\n", c.Redis)
	if c.HistoryDir != "" {
		fmt.Fprintf(&b, "[admin]\nhistory_dir = %q\n", c.HistoryDir)
	} else {
		b.WriteString("[admin]\nhistory_store = \"off\"\n")
	}
	return b.String()
}

// BuildSpamgate builds cmd/spamgate into a temporary directory, with -race
// when race is set (a test binary built with -race then finds the compiled
// packages in the build cache). The environment variable binEnv, when set,
// names a spamgate binary to use instead (another version, or a build from
// a clean checkout while the tree is being edited).
func BuildSpamgate(tb testing.TB, binEnv string, race bool) string {
	tb.Helper()
	if bin := os.Getenv(binEnv); bin != "" {
		return bin
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(tb.TempDir(), "spamgate")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command(goBin, append(args, "spamgate/cmd/spamgate")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build spamgate: %v\n%s", err, out)
	}
	return bin
}

// PostfixTuning is main.cf for a load test, on top of postfixtest's
// defaults (which already set in_flow_delay = 0 and turn off DNS and
// rDNS): nothing may throttle the load on purpose.
func PostfixTuning() map[string]string {
	return map[string]string{
		"default_process_limit":                 "200", // smtpd, cleanup, smtp: room for 50 sessions and more
		"smtpd_client_connection_count_limit":   "0",
		"smtpd_client_connection_rate_limit":    "0",
		"smtpd_client_message_rate_limit":       "0",
		"smtpd_client_recipient_rate_limit":     "0",
		"in_flow_delay":                         "0",
		"initial_destination_concurrency":       "20",
		"default_destination_concurrency_limit": "50",
		"smtp_destination_concurrency_limit":    "50",
		"default_destination_rate_delay":        "0",
		"smtp_connection_cache_on_demand":       "yes",
		"smtpd_timeout":                         "60s",
	}
}

// MilterSettings are what README.md recommends, as in the e2e tests.
func MilterSettings() map[string]string {
	return map[string]string{
		"milter_default_action":  "tempfail", // a broken milter shows as 4xx (lost mail), never as mail that passed unchecked
		"milter_protocol":        "6",
		"milter_command_timeout": "30s",
		"milter_content_timeout": "60s",
	}
}

// StartPostfix runs a Postfix instance with PostfixTuning, the extra main.cf
// settings and, with a milter ("inet:ADDR"; "" for none), MilterSettings,
// relaying to relay.
func StartPostfix(tb testing.TB, milter, relay string, extra map[string]string) *postfixtest.Postfix {
	tb.Helper()
	cf := PostfixTuning()
	if milter != "" {
		for k, v := range MilterSettings() {
			cf[k] = v
		}
	}
	for k, v := range extra {
		cf[k] = v
	}
	return postfixtest.Start(tb, postfixtest.Options{Milter: milter, Relay: relay, MainCF: cf})
}

// StartDNS serves zoneFile (testdata/dns/integration.zone, relative to the
// calling package) on loopback, answering after delay.
func StartDNS(tb testing.TB, zoneFile string, delay time.Duration) *dnstest.Server {
	tb.Helper()
	z, err := dnstest.LoadZoneFile(zoneFile, "test.")
	if err != nil {
		tb.Fatal(err)
	}
	s := dnstest.Start(tb, z)
	if delay != 0 {
		s.SetDelay(delay)
	}
	return s
}
