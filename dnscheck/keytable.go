package dnscheck

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"spamgate/dkim"
	"spamgate/dkimkeys"
	"spamgate/dnsx"
)

// RetiredKeep is how long a retired key's record stays needed: mail signed
// just before the rotation may wait in a queue that long (Postfix's
// maximal_queue_lifetime default) before a receiver verifies it.
const RetiredKeep = 5 * 24 * time.Hour

// TXTResolver is the DNS access the key table check needs.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// CheckKey compares the key record published for e with e's public key:
// Pass when they match, Fail with the reason otherwise.
func CheckKey(ctx context.Context, r TXTResolver, e dkimkeys.Entry) Check {
	name := "DKIM " + e.Selector
	host := e.Selector + "._domainkey." + e.Domain
	ours, err := dkim.DNSRecord(e.Public())
	if err != nil {
		return Check{name, Fail, err.Error()}
	}
	ourTags, _ := dkim.ParseTagList(ours) // our own output: always parses
	txts, err := r.LookupTXT(ctx, host)
	if dnsx.IsNotFound(err) {
		return Check{name, Fail, fmt.Sprintf("no key record at %s; \"spamgate dkim dns -domain %s -selector %s -key %s\" prints it",
			host, e.Domain, e.Selector, e.File)}
	}
	if err != nil {
		return lookupError(name, "TXT", host, err)
	}
	if len(txts) != 1 {
		return Check{name, Fail, fmt.Sprintf("%d TXT records at %s; verifiers need exactly one", len(txts), host)}
	}
	return judgeKey(name, host, txts[0], ourTags, e.Public(), e.File)
}

// KeyRow is one key of a KeyTableReport.
type KeyRow struct {
	Domain   string `json:"domain"`
	Selector string `json:"selector"`
	Algo     string `json:"algo"`
	State    string `json:"state"` // dkimkeys.Active, Pending, Standby, Retired; "" for a domain-wide row
	Status   string `json:"status"`
	Detail   string `json:"detail"`
}

// KeyTableReport is the outcome of KeyTable.
type KeyTableReport struct {
	Domains int      `json:"domains"`
	Keys    int      `json:"keys"`
	Failed  []string `json:"failed_domains"` // domains whose mail fails DKIM (or goes unsigned)
	Rows    []KeyRow `json:"rows"`
}

// OK reports whether every domain's active keys match their records.
func (r KeyTableReport) OK() bool { return len(r.Failed) == 0 }

// KeyTable checks every key of a key table, at most parallel lookups at a
// time: an active key whose record is missing or different fails (every
// message of the domain fails DKIM: the most common DKIM outage at
// hosters), and so does a domain with no active key (its mail goes out
// unsigned). A pending key is checked too, to say whether rotate would
// accept it; a retired key says whether its record is still needed.
func KeyTable(ctx context.Context, r TXTResolver, entries []dkimkeys.Entry, parallel int, now time.Time) KeyTableReport {
	rep := KeyTableReport{Keys: len(entries), Rows: make([]KeyRow, len(entries))}
	var lookups []int
	for i, e := range entries {
		rep.Rows[i] = KeyRow{Domain: e.Domain, Selector: e.Selector, Algo: e.Algo, State: e.State}
		switch e.State {
		case dkimkeys.Active, dkimkeys.Pending:
			lookups = append(lookups, i)
		case dkimkeys.Standby:
			rep.Rows[i].Status, rep.Rows[i].Detail = Skip, "not signing: a newer "+e.Algo+" key is active; retire it with spamgate dkim rotate"
		case dkimkeys.Retired:
			rep.Rows[i].Status, rep.Rows[i].Detail = Skip, retiredDetail(e, now)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(parallel, len(lookups))) {
		wg.Go(func() {
			for j := int(next.Add(1) - 1); j < len(lookups); j = int(next.Add(1) - 1) {
				i := lookups[j]
				c := CheckKey(ctx, r, entries[i])
				rep.Rows[i].Status, rep.Rows[i].Detail = c.Status, c.Detail
				if entries[i].State == dkimkeys.Pending {
					pendingRow(&rep.Rows[i])
				}
			}
		})
	}
	wg.Wait()
	rep.Rows, rep.Domains, rep.Failed = domainRows(rep.Rows)
	return rep
}

// pendingRow turns a pending key's check into advice: not published yet is
// normal (a warning), published means rotate may go ahead.
func pendingRow(row *KeyRow) {
	if row.Status == Pass {
		row.Detail = "published and matches; \"spamgate dkim rotate -domain " + row.Domain + "\" makes it active"
		return
	}
	row.Status, row.Detail = Warn, "rotate would refuse: "+row.Detail
}

func retiredDetail(e dkimkeys.Entry, now time.Time) string {
	age := now.Sub(e.MarkTime).Truncate(time.Hour)
	if age >= RetiredKeep {
		return fmt.Sprintf("retired %s ago: no mail signed with it is still queued anywhere; its DNS record may be removed", age)
	}
	return fmt.Sprintf("retired %s ago: keep its DNS record until %s (queued mail signed with it)", age, e.MarkTime.Add(RetiredKeep).UTC().Format(time.DateTime))
}

// domainRows adds a failing row for each domain without an active key and
// lists the domains that fail. rows are in domain order.
func domainRows(rows []KeyRow) (out []KeyRow, domains int, failed []string) {
	for i := 0; i < len(rows); {
		j, active, bad := i, false, false
		for ; j < len(rows) && rows[j].Domain == rows[i].Domain; j++ {
			if rows[j].State == dkimkeys.Active {
				active = true
				bad = bad || rows[j].Status == Fail
			}
		}
		out = append(out, rows[i:j]...)
		if !active {
			out = append(out, KeyRow{Domain: rows[i].Domain, Status: Fail, Detail: "no active key: its mail goes out unsigned"})
			bad = true
		}
		if bad {
			failed = append(failed, rows[i].Domain)
		}
		domains++
		i = j
	}
	return out, domains, failed
}

// Write prints the rows that need attention (all rows with all) as a table
// and a one-line verdict.
func (r KeyTableReport) Write(w io.Writer, all bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tSELECTOR\tALGO\tSTATE\tSTATUS\tDETAIL")
	for _, row := range r.Rows {
		if all || row.Status == Fail || row.Status == Warn {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", row.Domain, cmpOr(row.Selector, "-"), cmpOr(row.Algo, "-"),
				cmpOr(row.State, "-"), strings.ToUpper(row.Status), row.Detail)
		}
	}
	tw.Flush()
	if r.OK() {
		fmt.Fprintf(w, "\nresult: pass (%d domains, %d keys)\n", r.Domains, r.Keys)
	} else {
		fmt.Fprintf(w, "\nresult: FAIL (%d of %d domains: mail fails DKIM or goes unsigned)\n", len(r.Failed), r.Domains)
	}
}
