// Command spamgate is a mail-policy milter for Postfix.
//
//	spamgate serve [-config FILE]      run the milter (built-in defaults without -config)
//	spamgate check-config -config FILE validate a configuration and print the result
//	spamgate explain -client IP -to ADDR …  what a transaction would meet, check by check
//
// See README.md for the Postfix settings.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: spamgate COMMAND [flags]

commands:
  serve [-config FILE]         run the milter; without -config, built-in defaults
                               (listen inet:127.0.0.1:8891)
  check-config -config FILE    validate a configuration file and print the
                               effective configuration
  explain -client IP -to ADDR [-from ADDR] [-helo NAME] [-tls TLSv1.3:256]
          [-auth USER] [-message FILE] [-config FILE] [-json]
                               run one transaction through the same checks as
                               serve and print what each check found and what
                               each recipient would be told
  dkim keygen -domain D -selector S [-algo rsa|ed25519] [-out FILE]
                               make a signing key (mode 0600) and print the
                               DNS TXT record to publish
  dkim dns -domain D -selector S -key FILE
                               print the DNS TXT record of an existing key
  dkim keygen … -dir KEYS_DIR  write the key into the key table, pending
  dkim rotate -domain D [-dir KEYS_DIR] [-config FILE]
                               make the domain's newest pending keys active once
                               DNS publishes them; mark the old ones retired
  dmarc report -history DIR -since 24h -out DIR [-config FILE]
                               write RFC 9990 aggregate reports (XML) from the
                               recorded DMARC evaluations
  dns-check DOMAIN [-ip ADDR] [-config FILE] [-json]
                               check what a sending domain publishes: SPF, DKIM
                               keys of the configured selectors, DMARC with rua,
                               MX, forward-confirmed PTR of the sending IP
  dns-check -all [-dir KEYS_DIR] [-config FILE] [-json] [-v]
                               every key of the key table against its DNS
                               record: the domains whose mail fails DKIM
  recipients check [-config FILE] ADDR…
                               tell whether each address is a known recipient
                               and where it was found (table line, LDAP DN)
  greylist status|release|whitelist|unwhitelist|list|counts [-config FILE] …
                               inspect and change the greylist store (see
                               "spamgate greylist -h")
  admin passwd NAME -file USERS_FILE
                               add an admin console user or change its password
                               (read from standard input; bcrypt)
  version                      print the version

Run "spamgate COMMAND -h" for the flags of a command.
`

// version is set by the build (-ldflags "-X main.version=…").
var version = "dev"

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "dns-check":
		return dnsCheck(args[1:], stdout, stderr)
	case "dmarc":
		if len(args) > 1 && args[1] == "report" {
			return dmarcReport(args[2:], stdout, stderr)
		}
		fmt.Fprintln(stderr, "usage: spamgate dmarc report -config FILE -history DIR -since 24h -out DIR")
		return 2
	case "dkim":
		return dkimCmd(args[1:], stdout, stderr)
	case "explain":
		return explain(args[1:], stdout, stderr)
	case "recipients":
		return recipientsCmd(args[1:], stdout, stderr)
	case "greylist":
		return greylistCmd(args[1:], stdout, stderr)
	case "admin":
		return adminCmd(args[1:], os.Stdin, stdout, stderr)
	case "check-config":
		return checkConfig(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "spamgate", version)
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "spamgate: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// writeJSON writes v as indented JSON, the form every -json flag prints.
func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
