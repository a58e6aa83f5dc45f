package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"time"

	"spamgate/config"
	"spamgate/dkimkeys"
	"spamgate/dnscheck"
	"spamgate/dnsx"
)

const dnsCheckUsage = "usage: spamgate dns-check [-config FILE] [-ip ADDR] [-json] DOMAIN\n       spamgate dns-check -all [-config FILE] [-dir KEYS_DIR] [-parallel N] [-v] [-json]"

// dnsCheck runs "spamgate dns-check DOMAIN": what the domain publishes for
// mail it sends. Exit 0 when nothing failed, 1 when a check failed (or the
// configuration could not be used), 2 on bad usage.
func dnsCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dns-check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, dnsCheckUsage)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", "", "configuration file (TOML): its [dns] resolver and the [[dkim.key]] keys to compare; built-in defaults when empty")
	ipFlag := fs.String("ip", "", "sending IP address whose PTR must be forward-confirmed; skipped when empty")
	asJSON := fs.Bool("json", false, "print JSON")
	all := fs.Bool("all", false, "check every key of the key table ([dkim] keys_dir, or -dir) against its published record")
	dir := fs.String("dir", "", "-all: the key table; default [dkim] keys_dir of -config")
	parallel := fs.Int("parallel", 16, "-all: DNS lookups at a time")
	verbose := fs.Bool("v", false, "-all: print every key, not only those that need attention")
	if fs.Parse(args) != nil {
		return 2
	}
	if *all {
		if fs.NArg() > 0 {
			fmt.Fprintln(stderr, "spamgate dns-check: -all checks the key table and takes no DOMAIN\n"+dnsCheckUsage)
			return 2
		}
		return dnsCheckAll(*cfgPath, *dir, *parallel, *verbose, *asJSON, stdout, stderr)
	}
	domain, ok := parseInterspersed(fs, args)
	if !ok {
		return 2
	}
	if *all {
		fmt.Fprintln(stderr, "spamgate dns-check: -all checks the key table and takes no DOMAIN\n"+dnsCheckUsage)
		return 2
	}
	var ip netip.Addr
	if *ipFlag != "" {
		var err error
		if ip, err = netip.ParseAddr(*ipFlag); err != nil {
			fmt.Fprintf(stderr, "spamgate dns-check: -ip %q: not an IP address\n", *ipFlag)
			return 2
		}
	}
	cfg, err := config.LoadOrDefault(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	r, err := dnsx.New(dnsx.Config{Nameservers: cfg.DNS.Nameservers, Timeout: cfg.DNS.Timeout.Duration})
	if err != nil {
		fmt.Fprintln(stderr, "spamgate dns-check:", err)
		return 1
	}
	// Each lookup is bounded by the resolver's timeout and attempts; Ctrl-C
	// still ends the run at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep := dnscheck.Run(ctx, r, domain, cfg.DKIM.Keys, ip)
	if *asJSON {
		// "ok" saves a script from knowing which statuses count as failure.
		writeJSON(stdout, struct {
			dnscheck.Report
			OK bool `json:"ok"`
		}{rep, rep.OK()})
	} else {
		rep.Write(stdout)
	}
	if !rep.OK() {
		return 1
	}
	return 0
}

// dnsCheckAll runs "spamgate dns-check -all": every key of the key table
// against its published record. Exit 1 when a domain's mail would fail
// DKIM or go unsigned.
func dnsCheckAll(cfgPath, dir string, parallel int, verbose, asJSON bool, stdout, stderr io.Writer) int {
	cfg, err := config.LoadOrDefault(cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if dir == "" {
		dir = cfg.DKIM.KeysDir
	}
	if dir == "" {
		fmt.Fprintln(stderr, "spamgate dns-check -all: no key table: give -dir or a -config with [dkim] keys_dir")
		return 2
	}
	table, err := dkimkeys.Open(dir, nil)
	if err != nil {
		fmt.Fprintln(stderr, "spamgate dns-check -all:", err)
		return 1
	}
	r, err := dnsx.New(dnsx.Config{Nameservers: cfg.DNS.Nameservers, Timeout: cfg.DNS.Timeout.Duration})
	if err != nil {
		fmt.Fprintln(stderr, "spamgate dns-check:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep := dnscheck.KeyTable(ctx, r, table.Entries(), parallel, time.Now())
	if asJSON {
		writeJSON(stdout, struct {
			dnscheck.KeyTableReport
			OK bool `json:"ok"`
		}{rep, rep.OK()})
	} else {
		rep.Write(stdout, verbose)
	}
	if !rep.OK() {
		return 1
	}
	return 0
}

// parseInterspersed parses flags on both sides of the one DOMAIN argument:
// "dns-check example.org -ip 192.0.2.1" is how people type it, and the flag
// package alone stops at the first non-flag.
func parseInterspersed(fs *flag.FlagSet, args []string) (domain string, ok bool) {
	if fs.Parse(args) != nil {
		return "", false
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(fs.Output(), "spamgate dns-check: DOMAIN is required\n"+dnsCheckUsage)
		return "", false
	}
	domain = fs.Arg(0)
	if fs.Parse(fs.Args()[1:]) != nil {
		return "", false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "spamgate dns-check: one DOMAIN only, got also %q\n%s\n", fs.Args(), dnsCheckUsage)
		return "", false
	}
	if strings.TrimSuffix(domain, ".") == "" || strings.HasPrefix(domain, "-") {
		fmt.Fprintf(fs.Output(), "spamgate dns-check: %q is not a domain\n", domain)
		return "", false
	}
	return domain, true
}
