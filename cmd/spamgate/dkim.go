package main

import (
	"crypto"
	"flag"
	"fmt"
	"io"
	"os"

	"spamgate/dkim"
)

// dkimCmd runs "spamgate dkim keygen|dns".
func dkimCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "keygen" && args[0] != "dns") {
		fmt.Fprintln(stderr, "usage: spamgate dkim keygen -domain D -selector S [-algo rsa|ed25519] [-out FILE]\n       spamgate dkim dns -domain D -selector S -key FILE")
		return 2
	}
	fs := flag.NewFlagSet("dkim "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	domain := fs.String("domain", "", "signing domain (d=)")
	selector := fs.String("selector", "", "selector (s=)")
	algo := fs.String("algo", "rsa", "key type: rsa (2048 bits) or ed25519")
	out := fs.String("out", "", "keygen: where to write the private key (mode 0600); default SELECTOR.DOMAIN.pem")
	keyFile := fs.String("key", "", "dns: the private key file")
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
		path := *out
		if path == "" {
			path = *selector + "." + *domain + ".pem"
		}
		// O_EXCL: never overwrite a key that may already be published.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = f.Write(pemKey)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, "spamgate dkim keygen: write key:", err)
			return 1
		}
		fmt.Fprintf(stderr, "private key written to %s (mode 0600); publish this record:\n", path)
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
