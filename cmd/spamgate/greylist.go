package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"spamgate/config"
	"spamgate/engine"
	"spamgate/greylist"
)

const greylistUsage = `usage: spamgate greylist COMMAND [-config FILE] …

  status  -client IP -from ADDR -to ADDR   the triplet's state, and whether (and why)
                                           the client counts as suspicious
  release -client IP -from ADDR -to ADDR   let the triplet's next retry pass
  whitelist   -network CIDR | -domain D [-ttl 720h]
                                           never greylist a client network or a
                                           sender domain (0 ttl: for good)
  unwhitelist -network CIDR | -domain D
  list                                     the whitelist entries
  counts                                   triplets waiting, passed, auto-whitelisted
                                           networks, whitelist entries

The store is the one [greylist] names. With store = "memory" the state lives in
the running spamgate: status, list and counts read its saved file; changes need
store = "redis" (or whitelist_networks / whitelist_sender_domains and a reload).
`

// greylistArgs are the flags every greylist command accepts.
type greylistArgs struct {
	config, client, from, to, spfDomain, network, domain string
	ttl                                                  time.Duration
}

func greylistCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(stderr, greylistUsage)
		return 2
	}
	cmd := args[0]
	var a greylistArgs
	fs := flag.NewFlagSet("greylist "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&a.config, "config", "", "configuration file")
	fs.StringVar(&a.client, "client", "", "client IP address")
	fs.StringVar(&a.from, "from", "", "envelope sender")
	fs.StringVar(&a.to, "to", "", "recipient")
	fs.StringVar(&a.spfDomain, "spf-domain", "", "the SPF-authorized sender domain, when SPF passed")
	fs.StringVar(&a.network, "network", "", "client network (CIDR)")
	fs.StringVar(&a.domain, "domain", "", "sender domain")
	fs.DurationVar(&a.ttl, "ttl", 0, "whitelist entry lifetime (0: for good)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfg, err := config.LoadOrDefault(a.config)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if err := runGreylist(cmd, a, cfg, stdout); err != nil {
		fmt.Fprintln(stderr, "greylist "+cmd+":", err)
		return 1
	}
	return 0
}

func runGreylist(cmd string, a greylistArgs, cfg *config.Config, stdout io.Writer) error {
	if cmd == "status" {
		return greylistStatus(a, cfg, stdout)
	}
	writes := cmd == "release" || cmd == "whitelist" || cmd == "unwhitelist"
	if writes && cfg.Greylist.Store == "memory" {
		return errors.New(`store = "memory" lives in the running spamgate; use whitelist_networks / ` +
			`whitelist_sender_domains and a reload, or store = "redis"`)
	}
	store, err := engine.NewGreylistStore(cfg.Greylist)
	if err != nil {
		return err
	}
	if cfg.Greylist.Store != "memory" { // closing a memory store would save over the daemon's file
		defer store.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch cmd {
	case "release":
		k, err := greylistKey(a, cfg)
		if err != nil {
			return err
		}
		if err := store.Release(ctx, k, greylistParams(cfg)); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "released: the next retry passes")
	case "whitelist", "unwhitelist":
		return greylistWhitelist(ctx, cmd, a, store, stdout)
	case "list":
		list, err := store.Whitelist(ctx)
		if err != nil {
			return err
		}
		for _, w := range list {
			fmt.Fprintf(stdout, "%-8s %-30s %s\n", w.Kind, w.Value, expiry(w.Expires))
		}
	case "counts":
		c, err := store.Counts(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "waiting %d\npassed %d\nauto-whitelisted networks %d\nwhitelist entries %d\n",
			c.Waiting, c.Passed, c.AWLClients, c.Whitelist)
	default:
		return fmt.Errorf("unknown command (see spamgate greylist -h)")
	}
	return nil
}

func greylistWhitelist(ctx context.Context, cmd string, a greylistArgs, store greylist.Store, stdout io.Writer) error {
	w, err := engine.GreylistWhitelistEntry(a.network, a.domain, a.ttl, time.Now())
	if err != nil {
		return fmt.Errorf("-network / -domain: %w", err)
	}
	if cmd == "unwhitelist" {
		if err := store.RemoveWhitelist(ctx, w.Kind, w.Value); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s %s\n", w.Kind, w.Value)
		return nil
	}
	if err := store.AddWhitelist(ctx, w); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "whitelisted %s %s, %s (running spamgates see it within 30s)\n", w.Kind, w.Value, expiry(w.Expires))
	return nil
}

func greylistParams(cfg *config.Config) greylist.Params { return engine.GreylistParams(cfg) }

func greylistKey(a greylistArgs, cfg *config.Config) (greylist.Key, error) {
	return engine.GreylistKey(cfg, a.client, a.spfDomain, a.from, a.to)
}

func expiry(t time.Time) string {
	if t.IsZero() {
		return "for good"
	}
	return "until " + t.Format(time.RFC3339)
}

// greylistStatus shows what explain shows for greylisting (the client's
// suspicion, the decision a retry would get) and the stored entry.
func greylistStatus(a greylistArgs, cfg *config.Config, stdout io.Writer) error {
	rep, err := runExplain(explainArgs{config: a.config, client: a.client, from: a.from, to: []string{a.to}, helo: a.client})
	if err != nil {
		return err
	}
	if len(rep.Suspicion) > 0 {
		fmt.Fprintf(stdout, "client suspicious: %v\n", rep.Suspicion)
	} else {
		fmt.Fprintln(stdout, "client not suspicious (greylisted only with mode = \"always\")")
	}
	for _, rc := range rep.Recipients {
		for _, v := range rc.Verdicts {
			if v.Check == "greylist" {
				fmt.Fprintf(stdout, "decision now: %s\n", v.Reason)
			}
		}
		if rc.Reply != nil {
			fmt.Fprintf(stdout, "reply now: %s\n", rc.Reply)
		}
	}
	store, err := engine.NewGreylistStore(cfg.Greylist)
	if err != nil {
		return err
	}
	if cfg.Greylist.Store != "memory" {
		defer store.Close()
	}
	k, err := greylistKey(a, cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := store.Status(ctx, k)
	if err != nil {
		return err
	}
	if e.FirstSeen.IsZero() {
		fmt.Fprintln(stdout, "triplet: not seen")
	} else {
		fmt.Fprintf(stdout, "triplet: first seen %s, passed %s, expires %s\n", e.FirstSeen.Format(time.RFC3339),
			orNever(e.PassedAt), e.Expires.Format(time.RFC3339))
	}
	fmt.Fprintf(stdout, "client network passes: %d (auto-whitelist at %d)\n", e.AWLCount, cfg.Greylist.AWLCount)
	return nil
}

func orNever(t time.Time) string {
	if t.IsZero() {
		return "not yet"
	}
	return t.Format(time.RFC3339)
}
