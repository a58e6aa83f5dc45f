package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"spamgate/config"
	"spamgate/dmarcreport"
)

// dmarcReport runs "spamgate dmarc report": it reads the DMARC history of
// the last -since and writes one RFC 9990 aggregate report (plain XML) per
// Policy Domain that asked for reports into -out, printing the file names.
func dmarcReport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dmarc report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFile := fs.String("config", "", "configuration file (its milter.authserv_id names us)")
	histDir := fs.String("history", "", "DMARC history directory (required)")
	since := fs.Duration("since", 24*time.Hour, "report the evaluations of this long before now")
	outDir := fs.String("out", ".", "directory the XML reports are written to")
	org := fs.String("org", "", "org_name (default: our domain)")
	email := fs.String("email", "", "contact email (default: postmaster@our domain)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *histDir == "" || *since <= 0 {
		fmt.Fprintln(stderr, "spamgate dmarc report: -history is required and -since must be positive")
		return 2
	}
	cfg, err := config.LoadOrDefault(*cfgFile)
	if err != nil {
		fmt.Fprintln(stderr, "spamgate dmarc report:", err)
		return 1
	}
	rep := reporter(cfg.Milter.AuthservID, *org, *email)
	end := time.Now().UTC().Truncate(time.Second)
	return writeReports(*histDir, *outDir, rep, end.Add(-*since), end, stdout, stderr)
}

func reporter(domain, org, email string) dmarcreport.Reporter {
	if org == "" {
		org = domain
	}
	if email == "" {
		email = "postmaster@" + domain
	}
	return dmarcreport.Reporter{OrgName: org, Email: email, Domain: domain}
}

func writeReports(histDir, outDir string, rep dmarcreport.Reporter, begin, end time.Time, stdout, stderr io.Writer) int {
	// Streamed: memory follows the number of report rows, not of messages.
	agg := dmarcreport.NewAggregator(begin, end)
	warnings, err := dmarcreport.Scan(histDir, begin, end, agg.Add)
	if err != nil {
		fmt.Fprintln(stderr, "spamgate dmarc report:", err)
		return 1
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "spamgate dmarc report: skipped", w)
	}
	if err := os.MkdirAll(outDir, 0o750); err != nil {
		fmt.Fprintln(stderr, "spamgate dmarc report:", err)
		return 1
	}
	for _, r := range agg.Reports(rep) {
		path := filepath.Join(outDir, r.FileName)
		if err := os.WriteFile(path, r.XML, 0o640); err != nil {
			fmt.Fprintln(stderr, "spamgate dmarc report: write report:", err)
			return 1
		}
		fmt.Fprintln(stdout, path)
	}
	return 0
}
