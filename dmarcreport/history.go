package dmarcreport

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"spamgate/dmarc"
)

// Evaluation is one DMARC evaluation, as the engine records it at end of
// message: what RFC 9990 section 2.1 says a report may contain.
type Evaluation struct {
	Time         time.Time       `json:"time"`
	SourceIP     netip.Addr      `json:"source_ip"`
	HeaderFrom   string          `json:"header_from"`   // the RFC5322.From domain
	EnvelopeFrom string          `json:"envelope_from"` // MAIL FROM domain ("" for null sender)
	PolicyDomain string          `json:"policy_domain"` // where the DMARC record was found
	Policy       PolicyPublished `json:"policy"`
	Disposition  string          `json:"disposition"` // none/quarantine/reject (what we applied)
	DKIM         []AuthResult    `json:"dkim,omitempty"`
	SPF          []AuthResult    `json:"spf,omitempty"`
	DKIMAligned  bool            `json:"dkim_aligned"`
	SPFAligned   bool            `json:"spf_aligned"`
	RUA          []string        `json:"rua,omitempty"` // the record's rua= URIs
	// Override is an optional policy override type (RFC 9990 2.1.5:
	// local_policy, mailing_list, trusted_forwarder, other, …) with
	// OverrideComment, for when Disposition is not what the policy asks.
	Override        string `json:"override,omitempty"`
	OverrideComment string `json:"override_comment,omitempty"`
}

// AuthResult is one DKIM signature ({Domain, Selector, Result}) or one SPF
// check ({Domain, Scope "mfrom"/"helo", Result}), uninterpreted with respect
// to DMARC (RFC 9990 section 2.1.1, "auth_results").
type AuthResult struct {
	Domain   string `json:"domain"`
	Selector string `json:"selector,omitempty"`
	Scope    string `json:"scope,omitempty"`
	Result   string `json:"result"`
}

// PolicyPublished is the DMARC Policy Record applied (RFC 9990 2.1.1,
// "policy_published"), tags as parsed, defaults filled in.
type PolicyPublished struct {
	P       string `json:"p"`
	SP      string `json:"sp,omitempty"` // "" when absent: p applies
	NP      string `json:"np,omitempty"` // "" when absent
	ADKIM   string `json:"adkim"`        // "r" or "s"
	ASPF    string `json:"aspf"`         // "r" or "s"
	Testing bool   `json:"testing"`      // t=y
	PSD     string `json:"psd,omitempty"`
	FO      string `json:"fo,omitempty"`
}

// PolicyFromRecord fills a PolicyPublished from the record the evaluation
// applied; nil gives the zero value.
func PolicyFromRecord(r *dmarc.Record) PolicyPublished {
	if r == nil {
		return PolicyPublished{}
	}
	return PolicyPublished{
		P: r.Policy, SP: r.SubdomainPolicy, NP: r.NonexistentPolicy,
		ADKIM: string(r.ADKIM), ASPF: string(r.ASPF),
		Testing: r.Test, PSD: r.PSD, FO: r.FO,
	}
}

// History appends evaluations to DIR/dmarc-YYYY-MM-DD.jsonl (UTC day of the
// evaluation). It is safe for concurrent use: one mutex guards the open file,
// and each line is flushed as it is written so that a crash loses at most the
// line being written.
type History struct {
	dir string
	mu  sync.Mutex
	day string // the day of f, "" when none is open
	f   *os.File
	w   *bufio.Writer
}

// OpenHistory creates dir if needed. Files are opened on first Append.
func OpenHistory(dir string) (*History, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("dmarc history: %w", err)
	}
	return &History{dir: dir}, nil
}

// Append writes e as one JSON line. A zero Time is set to now.
func (h *History) Append(e Evaluation) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	line, err := jsonLine(e)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.rotate(dayOf(e.Time)); err != nil {
		return err
	}
	if _, err := h.w.Write(line); err != nil {
		return fmt.Errorf("dmarc history: write %s: %w", h.f.Name(), err)
	}
	if err := h.w.Flush(); err != nil {
		return fmt.Errorf("dmarc history: write %s: %w", h.f.Name(), err)
	}
	return nil
}

// rotate makes the file of day the open one. h.mu must be held.
func (h *History) rotate(day string) error {
	if h.f != nil && h.day == day {
		return nil
	}
	if h.day == "closed" {
		return errors.New("dmarc history: closed")
	}
	if err := h.closeFile(); err != nil {
		return err
	}
	name := filepath.Join(h.dir, "dmarc-"+day+".jsonl")
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("dmarc history: %w", err)
	}
	h.f, h.w, h.day = f, bufio.NewWriter(f), day
	return nil
}

// closeFile flushes and closes the open file, if any. h.mu must be held.
func (h *History) closeFile() error {
	if h.f == nil {
		return nil
	}
	ferr := h.w.Flush()
	cerr := h.f.Close()
	h.f, h.w = nil, nil
	if err := errors.Join(ferr, cerr); err != nil {
		return fmt.Errorf("dmarc history: close: %w", err)
	}
	return nil
}

// Close flushes and closes the History; later Appends fail.
func (h *History) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.closeFile()
	h.day = "closed"
	return err
}

func dayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Read returns the evaluations with since <= Time < until from the history
// files of the days that overlap that range, oldest file first. Malformed
// lines (a crash mid-write leaves one) are skipped; each is named, as
// "file:line: reason", in the returned warnings. The error is for files that
// cannot be listed or read.
func Read(dir string, since, until time.Time) ([]Evaluation, []string, error) {
	files, err := historyFiles(dir, since, until)
	if err != nil {
		return nil, nil, err
	}
	var evals []Evaluation
	var warnings []string
	for _, name := range files {
		ev, warn, err := readFile(name, since, until)
		if err != nil {
			return nil, nil, err
		}
		evals, warnings = append(evals, ev...), append(warnings, warn...)
	}
	return evals, warnings, nil
}

// historyFiles lists the day files of dir whose day overlaps [since, until).
func historyFiles(dir string, since, until time.Time) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dmarc history: %w", err)
	}
	first, last := dayOf(since), dayOf(until.Add(-time.Nanosecond))
	var names []string
	for _, e := range entries {
		day, ok := strings.CutPrefix(e.Name(), "dmarc-")
		day, ok2 := strings.CutSuffix(day, ".jsonl")
		if !ok || !ok2 || e.IsDir() {
			continue
		}
		if _, err := time.Parse(time.DateOnly, day); err != nil || day < first || day > last {
			continue
		}
		names = append(names, filepath.Join(dir, e.Name()))
	}
	sort.Strings(names)
	return names, nil
}

func readFile(name string, since, until time.Time) ([]Evaluation, []string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("dmarc history: %w", err)
	}
	defer f.Close()
	evals, warnings, err := readLines(f, name, since, until)
	if err != nil {
		return nil, nil, fmt.Errorf("dmarc history: read %s: %w", name, err)
	}
	return evals, warnings, nil
}

// readLines parses r as history lines; name is for the warnings.
func readLines(r io.Reader, name string, since, until time.Time) ([]Evaluation, []string, error) {
	br := bufio.NewReader(r)
	var evals []Evaluation
	var warnings []string
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			e, perr := parseLine(line)
			switch {
			case perr != nil:
				warnings = append(warnings, fmt.Sprintf("%s:%d: %v", name, n, perr))
			case !e.Time.Before(since) && e.Time.Before(until):
				evals = append(evals, e)
			}
		}
		if errors.Is(err, io.EOF) {
			return evals, warnings, nil
		}
		if err != nil {
			return nil, nil, err
		}
	}
}

// parseLine decodes one history line and checks what a report needs.
func parseLine(line []byte) (Evaluation, error) {
	var e Evaluation
	if err := json.Unmarshal(line, &e); err != nil {
		return Evaluation{}, fmt.Errorf("malformed line: %w", err)
	}
	switch {
	case e.Time.IsZero():
		return Evaluation{}, errors.New("malformed line: no time")
	case !e.SourceIP.IsValid():
		return Evaluation{}, errors.New("malformed line: no source_ip")
	case e.HeaderFrom == "":
		return Evaluation{}, errors.New("malformed line: no header_from")
	}
	e.Time = e.Time.UTC()
	return e, nil
}

// jsonLine is the history line of e, with its newline.
func jsonLine(e Evaluation) ([]byte, error) {
	line, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("dmarc history: encode: %w", err)
	}
	return append(line, '\n'), nil
}
