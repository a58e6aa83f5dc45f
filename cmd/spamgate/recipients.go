package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"spamgate/config"
	"spamgate/engine"
)

// recipientsCmd is "spamgate recipients check ADDR…": where each address
// was found (table line or LDAP DN), as the milter would decide at RCPT.
func recipientsCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: spamgate recipients check [-config FILE] ADDR…")
		return 2
	}
	fs := flag.NewFlagSet("recipients check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", "", "configuration file")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "recipients check: give at least one address")
		return 2
	}
	cfg, err := config.LoadOrDefault(*cfgFile)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	v, err := engine.NewRecipients(cfg.Recipients, log)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if v == nil {
		fmt.Fprintln(stderr, "recipients check: [recipients] domains is empty: recipients are not validated")
		return 1
	}
	defer v.Close()
	code := 0
	for _, addr := range fs.Args() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Milter.CheckTimeout.Duration)
		res, err := v.Check(ctx, addr)
		cancel()
		switch {
		case err != nil:
			fmt.Fprintf(stdout, "%s: lookup failed (the milter answers 451 4.3.0 with on_ldap_error = \"tempfail\"): %v\n", addr, err)
			code = 1
		case res.Source != "":
			fmt.Fprintf(stdout, "%s: %s (%s)\n", addr, res.Status, res.Source)
		default:
			fmt.Fprintf(stdout, "%s: %s\n", addr, res.Status)
		}
	}
	return code
}
