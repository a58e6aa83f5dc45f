package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"spamgate/config"
	"spamgate/daemon"
)

// explainOutbound prints the answer Postfix's smtp_tls_policy_maps would
// get for a next hop, and why: the rule (file:line), the TLSA records
// found, the MTA-STS policy id, which source won, and a warning when a
// rule's outbound_tls is weaker than what the domain publishes.
func explainOutbound(a explainArgs, stdout, stderr io.Writer) int {
	cfg, err := config.LoadOrDefault(a.config)
	if err != nil {
		fmt.Fprintln(stderr, "explain:", err)
		return 1
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	eng, res, err := daemon.NewEngine(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "explain:", err)
		return 1
	}
	defer eng.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // the socketmap deadline
	defer cancel()
	e, err := daemon.ExplainOutbound(ctx, cfg, eng.Policy(), res, log, a.outbound)
	if err != nil {
		fmt.Fprintln(stderr, "explain:", err)
		return 1
	}
	if a.json {
		writeJSON(stdout, e)
		return 0
	}
	printOutbound(stdout, e)
	return 0
}

func printOutbound(w io.Writer, e daemon.OutboundExplanation) {
	d, in := e.Decision, e.Inputs
	fmt.Fprintf(w, "next hop %s: %s %s\n", e.Nexthop, d.Status, d.Policy)
	fmt.Fprintf(w, "  decided by: %s (%s)\n", d.Source, d.Why)
	if in.RuleSource != "" {
		fmt.Fprintf(w, "  rule: %s require_tls=%t outbound_tls=%q\n", in.RuleSource, in.RequireTLS, in.RuleExplicit)
	}
	if r := in.DANE; r != nil {
		fmt.Fprintf(w, "  dane: mx %s", r.MX)
		if r.Err != nil {
			fmt.Fprintf(w, ", error: %v", r.Err)
		}
		fmt.Fprintln(w)
		for _, h := range r.Hosts {
			fmt.Fprintf(w, "    %s: tlsa %s, %d usable, %d unusable, %d dropped\n", h.Name, h.Status, len(h.TLSA), h.Unusable, h.Dropped)
			for _, t := range h.TLSA {
				fmt.Fprintf(w, "      TLSA %d %d %d %s\n", t.Usage, t.Selector, t.MatchingType, t.Certificate)
			}
		}
	}
	if in.MTASTS != "" {
		fmt.Fprintf(w, "  mta-sts: id %s: %s\n", in.MTASTSID, in.MTASTS)
	}
	if e.Warning != "" {
		fmt.Fprintf(w, "  warning: %s\n", e.Warning)
	}
}
