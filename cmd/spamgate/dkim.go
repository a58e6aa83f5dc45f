package main

import (
	"context"
	"crypto"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"spamgate/config"
	"spamgate/dkim"
	"spamgate/dkimkeys"
	"spamgate/dnscheck"
	"spamgate/dnsx"
)

const dkimUsage = `usage: spamgate dkim keygen -domain D -selector S [-algo rsa|ed25519] [-out FILE | -dir KEYS_DIR]
       spamgate dkim dns -domain D -selector S -key FILE
       spamgate dkim rotate -domain D [-dir KEYS_DIR] [-config FILE] [-json]`

// dkimCmd runs "spamgate dkim keygen|dns|rotate".
func dkimCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "rotate" {
		return dkimRotate(args[1:], stdout, stderr)
	}
	if len(args) == 0 || (args[0] != "keygen" && args[0] != "dns") {
		fmt.Fprintln(stderr, dkimUsage)
		return 2
	}
	fs := flag.NewFlagSet("dkim "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	domain := fs.String("domain", "", "signing domain (d=)")
	selector := fs.String("selector", "", "selector (s=)")
	algo := fs.String("algo", "rsa", "key type: rsa (2048 bits) or ed25519")
	out := fs.String("out", "", "keygen: where to write the private key (mode 0600); default SELECTOR.DOMAIN.pem")
	keyFile := fs.String("key", "", "dns: the private key file")
	dir := fs.String("dir", "", "keygen: write into the key table [dkim] keys_dir as DIR/DOMAIN/SELECTOR.pem, pending until \"spamgate dkim rotate\"")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *domain == "" || *selector == "" {
		fmt.Fprintln(stderr, "spamgate dkim: -domain and -selector are required")
		return 2
	}
	var signer crypto.Signer
	if args[0] == "keygen" {
		s, pemKey, err := dkim.GenerateKey(*algo)
		if err != nil {
			fmt.Fprintln(stderr, "spamgate dkim keygen:", err)
			return 1
		}
		path, err := writeKey(*out, *dir, *domain, *selector, pemKey)
		if err != nil {
			fmt.Fprintln(stderr, "spamgate dkim keygen: write key:", err)
			return 1
		}
		if *dir != "" {
			fmt.Fprintf(stderr, "private key written to %s (mode 0600), pending: it signs nothing yet.\n"+
				"Publish this record, then run \"spamgate dkim rotate -domain %s -dir %s\":\n", path, *domain, *dir)
		} else {
			fmt.Fprintf(stderr, "private key written to %s (mode 0600); publish this record:\n", path)
		}
		signer = s
	} else {
		key, err := dkim.LoadKey(*keyFile, *domain, *selector)
		if err != nil {
			fmt.Fprintln(stderr, "spamgate dkim dns:", err)
			return 1
		}
		signer = key.Signer
	}
	record, err := dkim.DNSRecord(signer.Public())
	if err != nil {
		fmt.Fprintln(stderr, "spamgate dkim:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s._domainkey.%s. IN TXT %s\n", *selector, *domain, quoteTXT(record))
	return 0
}

// writeKey stores a new key: in the key table as pending (dir), or as a
// file of its own (out, default SELECTOR.DOMAIN.pem).
func writeKey(out, dir, domain, selector string, pemKey []byte) (string, error) {
	if dir != "" {
		if out != "" {
			return "", errors.New("-out and -dir exclude each other")
		}
		return dkimkeys.WritePending(dir, domain, selector, pemKey)
	}
	path := out
	if path == "" {
		path = selector + "." + domain + ".pem"
	}
	// O_EXCL: never overwrite a key that may already be published.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	_, err = f.Write(pemKey)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return path, err
}

// dkimRotate runs "spamgate dkim rotate -domain D": the newest pending key
// of each algorithm becomes active once DNS publishes its record, and the
// keys it replaces are marked retired. A running spamgate takes the change
// at its next keys_dir poll or SIGHUP.
func dkimRotate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dkim rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	domain := fs.String("domain", "", "the domain whose keys rotate")
	dir := fs.String("dir", "", "the key table; default [dkim] keys_dir of -config")
	cfgPath := fs.String("config", "", "configuration file: its [dns] resolver and [dkim] keys_dir")
	asJSON := fs.Bool("json", false, "print what was done as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *domain == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, dkimUsage)
		return 2
	}
	cfg, err := config.LoadOrDefault(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *dir == "" {
		*dir = cfg.DKIM.KeysDir
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "spamgate dkim rotate: no key table: give -dir or a -config with [dkim] keys_dir")
		return 2
	}
	r, err := dnsx.New(dnsx.Config{Nameservers: cfg.DNS.Nameservers, Timeout: cfg.DNS.Timeout.Duration})
	if err != nil {
		fmt.Fprintln(stderr, "spamgate dkim rotate:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rot, err := dkimkeys.Rotate(ctx, *dir, *domain, func(ctx context.Context, e dkimkeys.Entry) error {
		if c := dnscheck.CheckKey(ctx, r, e); c.Status != dnscheck.Pass {
			return errors.New(c.Detail)
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(stderr, "spamgate dkim", err)
		return 1
	}
	if *asJSON {
		writeJSON(stdout, rot)
		return 0
	}
	for _, e := range rot.Activated {
		fmt.Fprintf(stdout, "active:  %s selector %s (%s)\n", e.Domain, e.Selector, e.Algo)
	}
	for _, e := range rot.Retired {
		fmt.Fprintf(stdout, "retired: %s selector %s (%s): keep its DNS record until \"spamgate dns-check -all\" says it may go (%s)\n",
			e.Domain, e.Selector, e.Algo, dnscheck.RetiredKeep)
	}
	fmt.Fprintln(stdout, "a running spamgate signs with the new keys after its next keys_dir poll ([dkim] keys_watch_interval) or SIGHUP")
	return 0
}

// quoteTXT writes a TXT value as zone-file strings of at most 255 bytes
// (an RSA-2048 key does not fit in one).
func quoteTXT(s string) string {
	out := ""
	for len(s) > 0 {
		n := min(len(s), 255)
		if out != "" {
			out += " "
		}
		out += `"` + s[:n] + `"`
		s = s[n:]
	}
	return out
}
