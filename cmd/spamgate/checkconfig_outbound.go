package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"spamgate/config"
	"spamgate/daemon"
	"spamgate/policy"
)

// maxOutboundChecks bounds the rules check-config asks DNS about: it is a
// check of the file, not a scan of a hosting panel's table.
const maxOutboundChecks = 50

// outboundWarnings warns about the configuration file's domain rules whose
// explicit outbound_tls is weaker than what the domain publishes (DANE or
// MTA-STS), through the same code as explain -outbound. It asks DNS, so it
// runs only when [tls_policy_map] dane or mta_sts is on; it returns the
// number of warnings.
func outboundWarnings(cfg *config.Config, pol *policy.Policy, stderr io.Writer) int {
	m := cfg.TLSPolicyMap
	if !m.DANE && !m.MTASTS {
		return 0
	}
	var domains []string
	for _, r := range cfg.PolicyRules() {
		if r.OutboundTLS != "" && r.Recipient != "*" && !strings.ContainsAny(r.Recipient, "@") && !strings.HasPrefix(r.Recipient, ".") {
			domains = append(domains, r.Recipient)
		}
	}
	if len(domains) > maxOutboundChecks {
		fmt.Fprintf(stderr, "note: outbound_tls checked against DANE/MTA-STS for the first %d of %d domain rules\n", maxOutboundChecks, len(domains))
		domains = domains[:maxOutboundChecks]
	}
	if len(domains) == 0 {
		return 0
	}
	log := slog.New(slog.DiscardHandler)
	eng, res, err := daemon.NewEngine(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "note: outbound_tls not checked:", err)
		return 0
	}
	defer eng.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	warnings := make([]string, len(domains))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, d := range domains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			e, err := daemon.ExplainOutbound(ctx, cfg, pol, res, log, d)
			if err == nil && e.Warning != "" {
				warnings[i] = fmt.Sprintf("warning: %s: %s: %s", e.Inputs.RuleSource, d, e.Warning)
			}
		}()
	}
	wg.Wait()
	n := 0
	for _, w := range warnings {
		if w != "" {
			fmt.Fprintln(stderr, w)
			n++
		}
	}
	return n
}
