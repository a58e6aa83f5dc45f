package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"

	"spamgate/config"
	"spamgate/daemon"
	"spamgate/engine"
)

// listFlag collects a repeatable flag (-to a -to b).
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// explainArgs is one transaction described on the command line.
type explainArgs struct {
	config, client, helo, tls, auth, from, message string
	outbound                                       string // explain -outbound DOMAIN: the smtp_tls_policy_maps answer
	to                                             listFlag
	json                                           bool
}

// explain runs one transaction through the same engine serve uses, with
// live DNS (or the configured nameservers), and prints what every check
// found and what every recipient would be told.
func explain(args []string, stdout, stderr io.Writer) int {
	var a explainArgs
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&a.config, "config", "", "configuration file (TOML); built-in defaults when empty")
	fs.StringVar(&a.client, "client", "", "client IP address (required)")
	fs.StringVar(&a.helo, "helo", "", "HELO/EHLO name")
	fs.StringVar(&a.tls, "tls", "", "TLS of the session as VERSION[:BITS[:CIPHER]], e.g. TLSv1.3:256; empty for cleartext")
	fs.StringVar(&a.auth, "auth", "", "SASL login name (makes the session outbound)")
	fs.StringVar(&a.from, "from", "", "envelope sender; empty for the null sender")
	fs.Var(&a.to, "to", "envelope recipient (repeat for several)")
	fs.StringVar(&a.message, "message", "", "message file whose header is passed as Postfix would")
	fs.BoolVar(&a.json, "json", false, "print JSON")
	fs.StringVar(&a.outbound, "outbound", "", "next hop (domain) whose smtp_tls_policy_maps answer to explain, instead of a transaction")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if a.outbound != "" {
		return explainOutbound(a, stdout, stderr)
	}
	rep, err := runExplain(a)
	if err != nil {
		fmt.Fprintln(stderr, "explain:", err)
		return 1
	}
	if a.json {
		writeJSON(stdout, rep)
		return 0
	}
	printReport(stdout, rep)
	return 0
}

func runExplain(a explainArgs) (*engine.Report, error) {
	if _, err := netip.ParseAddr(a.client); err != nil {
		return nil, errors.New("-client: want an IP address")
	}
	if len(a.to) == 0 {
		return nil, errors.New("-to: at least one recipient")
	}
	cfg, err := config.LoadOrDefault(a.config)
	if err != nil {
		return nil, err
	}
	req := engine.ExplainRequest{Client: a.client, Helo: a.helo, TLS: a.tls, Auth: a.auth, From: a.from, To: a.to}
	if a.message != "" {
		if req.Message, err = readMessage(a.message); err != nil {
			return nil, err
		}
	}
	// Logs go to stderr only when something is wrong: the report is the output.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, _, err := daemon.NewEngine(cfg, log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*cfg.Milter.CheckTimeout.Duration)
	defer cancel()
	return eng.Explain(ctx, req) // the console's explain runs the same
}

// readMessage reads the head of a message file: engine.ParseHeader reads
// no further than engine.MaxExplainHeader.
func readMessage(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("-message: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, engine.MaxExplainHeader))
	if err != nil {
		return "", fmt.Errorf("-message %s: %w", path, err)
	}
	return string(b), nil
}

func printReport(w io.Writer, r *engine.Report) {
	tls := "cleartext"
	if r.TLS.Version != "" {
		tls = strings.TrimSpace(fmt.Sprintf("%s, %d-bit cipher %s", r.TLS.Version, r.TLS.Bits, r.TLS.Cipher))
	}
	fmt.Fprintf(w, "client %s, HELO %q, %s, MAIL FROM <%s>\n", r.Client.Addr, r.Helo, tls, r.Sender)
	if r.Outbound {
		fmt.Fprintln(w, "  outbound (internal network or SASL-authenticated): inbound checks skipped")
	}
	if r.DNSBL != nil {
		fmt.Fprintf(w, "  dnsbl          score %g\n", r.DNSBL.Score)
		for _, z := range r.DNSBL.Zones {
			fmt.Fprintf(w, "                 %-20s %-10s weight %g", z.Zone, z.Status, z.Weight)
			if len(z.Answers) > 0 {
				fmt.Fprintf(w, " answers %v", z.Answers)
			}
			if z.Err != nil {
				fmt.Fprintf(w, " (%v)", z.Err)
			}
			fmt.Fprintln(w)
		}
	}
	if d := r.SenderDomain; d != nil {
		fmt.Fprintf(w, "  sender_domain  %s: %s (%s)\n", d.Domain, d.Status, d.Detail)
	}
	if o := r.SPF; o != nil {
		fmt.Fprintf(w, "  spf            %s for %s %s (matched %s)", o.Result, o.Identity, o.Domain, o.Mechanism)
		if o.Reason != "" {
			fmt.Fprintf(w, ": %s", o.Reason)
		}
		fmt.Fprintln(w)
	}
	if i := r.IPRev; i != nil {
		fmt.Fprintf(w, "  iprev          %s %s", i.Status, i.Name)
		if i.Dynamic != "" {
			fmt.Fprintf(w, " (looks dynamic: %s)", i.Dynamic)
		}
		fmt.Fprintln(w)
	}
	if len(r.Suspicion) > 0 {
		fmt.Fprintf(w, "  suspicious     %s\n", strings.Join(r.Suspicion, "; "))
	}
	for _, rc := range r.Recipients {
		if rc.Reply == nil {
			fmt.Fprintf(w, "RCPT <%s>: accepted\n", rc.Rcpt)
		} else {
			fmt.Fprintf(w, "RCPT <%s>: %s\n", rc.Rcpt, rc.Reply)
		}
		if rc.Rule != "" {
			fmt.Fprintf(w, "  policy rule    %s\n", rc.Rule)
		} else {
			fmt.Fprintf(w, "  policy rule    none (global settings)\n")
		}
		for _, v := range rc.Verdicts {
			mark := "ok     "
			if v.Reply != nil {
				mark = "REFUSES"
			}
			fmt.Fprintf(w, "  %s %-14s %s\n", mark, v.Check, v.Reason)
		}
	}
	printARC(w, r.ARC)
	printScore(w, r.Score)
	for _, h := range r.Headers {
		switch {
		case h.Quarantine != "":
			fmt.Fprintf(w, "quarantine: %s\n", h.Quarantine)
		case h.Delete:
			fmt.Fprintf(w, "header: delete %s #%d (from outside: only spamgate may set it)\n", h.Name, h.Index)
		case h.Change:
			fmt.Fprintf(w, "header: change %s #%d to: %s\n", h.Name, h.Index, h.Value)
		default:
			fmt.Fprintf(w, "header: add %s: %s\n", h.Name, strings.ReplaceAll(h.Value, "\r\n", "\n    "))
		}
	}
}

func printScore(w io.Writer, s *engine.ScoreReport) {
	if s == nil {
		return
	}
	fmt.Fprintf(w, "score %.1f (tag level %g, kill level %g)\n", s.Total, s.Tag, s.Kill)
	for _, h := range s.Hits {
		fmt.Fprintf(w, "  %+6.1f %-22s %s\n", h.Points, h.Name, h.Desc)
	}
}
