package postfixtest

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
)

// Account and group the Debian package creates; the queue directories belong to them.
const (
	mailOwner   = "postfix"
	setgidGroup = "postdrop"
)

// hostname is every instance's myhostname.
const hostname = "mx.postfixtest.test"

// layout names the files and directories of one instance, all under root.
type layout struct {
	root     string
	config   string // config_directory: main.cf, master.cf
	queue    string // queue_directory
	data     string // data_directory
	tls      string // throwaway key and certificate
	maillog  string // maillog_file
	stderr   string // master's own stderr (fatal errors before logging works)
	certFile string
	keyFile  string
}

func newLayout(root string) layout {
	return layout{
		root:     root,
		config:   root + "/etc",
		queue:    root + "/queue",
		data:     root + "/data",
		tls:      root + "/tls",
		maillog:  root + "/maillog",
		stderr:   root + "/master.stderr",
		certFile: root + "/tls/cert.pem",
		keyFile:  root + "/tls/key.pem",
	}
}

// mainCF renders main.cf for an instance laid out as l. Parameters in o.MainCF override
// the defaults; a test may set any Postfix parameter that way.
func mainCF(l layout, o Options) (string, error) {
	p := map[string]string{
		// 3.6 is the newest level Postfix 3.7 knows; it silences the "using backwards
		// compatible default setting" warnings and gives today's defaults.
		"compatibility_level": "3.6",
		"queue_directory":     l.queue,
		"data_directory":      l.data,
		"mail_owner":          mailOwner,
		"setgid_group":        setgidGroup,

		// No syslog daemon on the test machines: log to a file through postlogd. The file
		// must lie under one of maillog_file_prefixes (default "/var, /dev/stdout").
		"maillog_file":          l.maillog,
		"maillog_file_prefixes": l.root,
		"syslog_name":           "postfix",

		// Loopback only, IPv4 only (no test may touch another address).
		"inet_interfaces":         "127.0.0.1",
		"inet_protocols":          "ipv4",
		"smtp_address_preference": "ipv4",
		"myhostname":              hostname,
		"mydomain":                "postfixtest.test",
		"myorigin":                "$myhostname",
		"mynetworks":              "127.0.0.0/8",

		// Nothing is delivered locally: every recipient is remote and goes to the relay.
		"mydestination":        "",
		"relay_domains":        "",
		"local_recipient_maps": "",
		"alias_maps":           "",
		"alias_database":       "",
		"biff":                 "no",
		"append_dot_mydomain":  "no",
		// Postmaster notices would arrive at the sink as unexpected extra messages.
		"notify_classes": "",
		// Treat the test client as what it stands for, a client on the Internet: by
		// default Postfix counts a client on its own inet_interfaces (127.0.0.1) as local
		// and adds Message-Id/Date headers and rewrites header addresses, which would
		// change the very messages DKIM tests sign and verify.
		"local_header_rewrite_clients": "",

		// No DNS anywhere: the machine has no network, so a lookup could only time out.
		// The relay is a literal [127.0.0.1]:port; the client's name is not looked up
		// (the milter then sees the host name "[127.0.0.1]" and {client_name} "unknown",
		// as for a real client without rDNS). Override smtpd_peername_lookup to test rDNS.
		"smtp_dns_support_level": "disabled",
		"smtpd_peername_lookup":  "no",

		// Fast and patient enough for tests: no deliberate delays, quick retries, short
		// timeouts so that a broken test fails in seconds rather than minutes.
		"in_flow_delay":          "0",
		"smtpd_error_sleep_time": "0",
		"smtpd_soft_error_limit": "100",
		"smtpd_hard_error_limit": "200",
		"smtpd_timeout":          "60s",
		"queue_run_delay":        "1s",
		"minimal_backoff_time":   "1s",
		"maximal_backoff_time":   "5s",
		"service_throttle_time":  "1s",
		"smtp_connect_timeout":   "5s",
		"smtp_helo_timeout":      "10s",
		"milter_connect_timeout": "5s",
		"milter_command_timeout": "10s",
		"milter_content_timeout": "30s",

		// The sink speaks no TLS.
		"smtp_tls_security_level":  "none",
		"smtpd_tls_security_level": "none",
	}
	if o.Relay != "" {
		host, port, err := net.SplitHostPort(o.Relay)
		if err != nil {
			return "", fmt.Errorf("relay %q: %w", o.Relay, err)
		}
		// Brackets: deliver to this address as is, no MX lookup.
		p["relayhost"] = "[" + host + "]:" + port
		p["default_transport"] = "smtp"
		p["relay_transport"] = "smtp"
	} else {
		// Without a relay there is nowhere to deliver; discard rather than queue forever.
		p["default_transport"] = "discard:no relay configured"
		p["relay_transport"] = "discard:no relay configured"
	}
	if o.Milter != "" {
		p["smtpd_milters"] = o.Milter
	}
	if o.TLS {
		p["smtpd_tls_security_level"] = "may"
		p["smtpd_tls_cert_file"] = l.certFile
		p["smtpd_tls_key_file"] = l.keyFile
		p["smtpd_tls_loglevel"] = "1"
		p["smtpd_tls_received_header"] = "yes"
	}
	for k, v := range o.MainCF {
		if strings.ContainsAny(k+v, "\n\r") {
			return "", fmt.Errorf("main.cf parameter %q: line break in name or value", k)
		}
		p[k] = v
	}

	var b strings.Builder
	b.WriteString("# written by spamgate/internal/postfixtest\n")
	for _, k := range slices.Sorted(maps.Keys(p)) {
		fmt.Fprintf(&b, "%s = %s\n", k, p[k])
	}
	return b.String(), nil
}

// masterCF renders master.cf: the one smtpd listener on smtpdAddr and the internal
// services that receiving and relaying mail need. Nothing runs chrooted (a chroot would
// need copies of /etc files in the queue directory) and nothing is local delivery.
func masterCF(smtpdAddr string) string {
	const services = `# service type  private unpriv  chroot  wakeup  maxproc command
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`
	return "# written by spamgate/internal/postfixtest\n" +
		smtpdAddr + " inet n - n - - smtpd\n" + services
}
