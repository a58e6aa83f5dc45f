package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	toml "github.com/pelletier/go-toml/v2"

	"spamgate/config"
	"spamgate/daemon"
	"spamgate/dkimkeys"
	"spamgate/engine"
	"spamgate/greylist"
)

// checkConfig validates a file and prints the effective configuration
// (defaults filled in), so that an admin sees what spamgate will do.
func checkConfig(args []string, stdout, stderr io.Writer) int {
	cfg, path, code := configFromFlags("check-config", "configuration file (TOML) to check", args, stderr)
	if cfg == nil {
		return code
	}
	// The policy with its table files, as serve would load it: errors name
	// file and line; rules that can never match are warned about.
	p, warnings, err := engine.LoadPolicy(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s: %s\n", w.Source, w.Msg)
	}
	nwarn := len(warnings) + outboundWarnings(cfg, p, stderr)
	// Not counted: the default history_dir is missing wherever the package
	// is not installed, and serve then runs (without history) all the same.
	if w := daemon.HistoryWarning(cfg.Admin); w != "" {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	out, err := toml.Marshal(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "print configuration:", err)
		return 1
	}
	fmt.Fprintf(stdout, "# effective configuration of %s\n%s", nameOr(path, "built-in defaults"), out)
	if g := cfg.Greylist; g.Store == "memory" {
		fmt.Fprintf(stdout, "# greylist memory store: about %d MiB at max_entries = %d and max_whitelist = %d\n",
			(greylist.MemoryEstimate(g.MaxEntries, g.MaxWhitelist)+1<<20-1)>>20, g.MaxEntries, g.MaxWhitelist)
	}
	if dir := cfg.DKIM.KeysDir; dir != "" {
		// As serve reads it: a broken key file is named and stops the start.
		t, err := dkimkeys.Open(dir, nil)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		s := t.Stats()
		fmt.Fprintf(stdout, "# dkim key table %s: %d domains, %d key files, %d signing\n", dir, s.Domains, s.Keys, s.Active)
	}
	if !checkAdmin(cfg, stdout, stderr) {
		return 1
	}
	fmt.Fprintf(stderr, "configuration OK (%d policy rules, %d warnings)\n", p.Len(), nwarn)
	return 0
}

func nameOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// configFromFlags parses a command whose only flag is -config and loads the
// file (or the defaults). On failure cfg is nil and code is the exit status.
func configFromFlags(command, usage string, args []string, stderr io.Writer) (cfg *config.Config, path string, code int) {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&path, "config", "", usage)
	if err := fs.Parse(args); err != nil {
		return nil, "", 2
	}
	cfg, err := config.LoadOrDefault(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, "", 1
	}
	return cfg, path, 0
}
