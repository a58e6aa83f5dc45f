// Package dkimkeys is the DKIM signing key table of a host that signs for
// thousands of domains: a directory laid out as DIR/DOMAIN/SELECTOR.pem,
// read once into memory, so that choosing a message's keys is one map
// lookup and never touches the file system.
//
// Per domain and algorithm (rsa, ed25519) one key signs: the newest (latest
// modification time of its .pem file, then the greater selector name) that
// has neither a SELECTOR.retired nor a SELECTOR.pending file beside it. So
// a domain with an rsa and an ed25519 key is dual-signed, and rotation is:
// write the new key as pending (`spamgate dkim keygen -dir`), publish its
// record, `spamgate dkim rotate` (which checks DNS, removes the .pending and
// marks the old key .retired).
//
// Key files are refused, with an error naming them, when group or others
// may read them or when they do not parse. At start that is an error; a
// reload keeps the domain of a broken file as it was, and applies every
// other change.
package dkimkeys

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"spamgate/dkim"
)

// maxLoggedErrors bounds the errors one reload logs; the count says the rest.
const maxLoggedErrors = 20

// Table is the key table of one directory. Keys is safe for concurrent use
// with Reload and Watch.
type Table struct {
	dir string
	log *slog.Logger
	cur atomic.Pointer[snapshot]
	mu  sync.Mutex // one scan at a time

	reloads, reloadErrors atomic.Uint64
	lastScan              atomic.Int64 // nanoseconds the last scan took
	scanned               atomicPrints // fingerprints of the directory as the last scan began
}

// snapshot is one generation of the table; never changed once published.
type snapshot struct {
	sign    map[string][]dkim.Key // domain → active keys, one per algorithm
	domains map[string][]Entry    // domain → every key file, by selector
	broken  int                   // files the scan refused
}

// Stats are the table's figures for metrics and logs.
type Stats struct {
	Domains, Keys, Active, Broken int
	Reloads, ReloadErrors         uint64
	LastScan                      time.Duration
}

// Open reads dir. Any key file that cannot be used is an error naming it:
// an admin starting the daemon wants to hear about it now.
func Open(dir string, log *slog.Logger) (*Table, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Table{dir: dir, log: log}
	snap, errs, err := t.scan(nil)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("dkim keys_dir %s: %d unusable key files: %w", dir, len(errs), errJoin(errs, maxLoggedErrors))
	}
	t.cur.Store(snap)
	return t, nil
}

// Dir is the directory the table reads.
func (t *Table) Dir() string { return t.dir }

// Keys returns the keys that sign mail of domain (case-insensitive, a
// trailing dot ignored), or nil. It reads memory only.
func (t *Table) Keys(domain string) []dkim.Key {
	d := strings.TrimSuffix(domain, ".")
	if hasUpper(d) {
		d = strings.ToLower(d)
	}
	return t.cur.Load().sign[d]
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// Entries returns every key file of the table, by domain then selector.
func (t *Table) Entries() []Entry {
	snap := t.cur.Load()
	names := make([]string, 0, len(snap.domains))
	for d := range snap.domains {
		names = append(names, d)
	}
	slices.Sort(names)
	var out []Entry
	for _, d := range names {
		out = append(out, snap.domains[d]...)
	}
	return out
}

// Stats returns the table's current figures.
func (t *Table) Stats() Stats {
	snap := t.cur.Load()
	s := Stats{Domains: len(snap.domains), Broken: snap.broken, Reloads: t.reloads.Load(),
		ReloadErrors: t.reloadErrors.Load(), LastScan: time.Duration(t.lastScan.Load())}
	for d, es := range snap.domains {
		s.Keys += len(es)
		s.Active += len(snap.sign[d])
	}
	return s
}

// Reload reads the directory again, parsing only files that changed. A
// domain with a broken key file keeps the keys it had (a half-written key
// must not leave a domain unsigned); every other change takes effect. An
// unreadable directory, or one suddenly empty (an unmounted volume), keeps
// the whole table. The error names the files.
func (t *Table) Reload() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reloads.Add(1)
	old := t.cur.Load()
	snap, errs, err := t.scan(old)
	if err == nil && len(snap.domains) == 0 && len(old.domains) > 0 {
		err = fmt.Errorf("dkim keys_dir %s: no domain found (the table had %d); keeping the table in force", t.dir, len(old.domains))
	}
	if err != nil {
		t.reloadErrors.Add(1)
		t.log.Error("dkim key table not reloaded; keeping the one in force", "dir", t.dir, "error", err)
		return err
	}
	t.cur.Store(snap)
	st := t.Stats()
	if len(errs) > 0 {
		t.reloadErrors.Add(1)
		err = fmt.Errorf("dkim keys_dir %s: %d unusable key files, their domains keep the keys they had: %w", t.dir, len(errs), errJoin(errs, maxLoggedErrors))
		t.log.Error("dkim key table reloaded with errors", "dir", t.dir, "domains", st.Domains, "keys", st.Keys, "error", err)
		return err
	}
	t.log.Info("dkim key table reloaded", "dir", t.dir, "domains", st.Domains, "keys", st.Keys, "active", st.Active, "took", st.LastScan)
	return nil
}

// scan reads the whole directory, domains in parallel (parsing RSA keys is
// the cost). With old set, unchanged files are not parsed again and a
// domain with an error keeps old's keys. err is for the directory itself.
func (t *Table) scan(old *snapshot) (*snapshot, []error, error) {
	start := time.Now()
	defer func() { t.lastScan.Store(int64(time.Since(start))) }()
	// Taken before reading, so that Watch notices any change made while
	// or after this scan reads.
	t.takePrints()
	des, err := os.ReadDir(t.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("dkim keys_dir: %w", err)
	}
	prev := prevKeys{}
	if old != nil {
		for _, es := range old.domains {
			for _, e := range es {
				prev[e.File] = e
			}
		}
	}
	type result struct {
		domain  string
		entries []Entry
		errs    []error
	}
	var names []string
	var errs []error
	seen := map[string]string{}
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") || !isDir(t.dir, de) {
			continue
		}
		d, err := domainOf(de.Name())
		if err == nil && seen[d] != "" {
			err = fmt.Errorf("%q and %q are the same domain", seen[d], de.Name())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("dkim keys_dir %s: %w", filepath.Join(t.dir, de.Name()), err))
			continue
		}
		seen[d] = de.Name()
		names = append(names, de.Name())
	}
	results := make([]result, len(names))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(names); i = int(next.Add(1) - 1) {
				d, _ := domainOf(names[i])
				es, errs := scanDomain(t.dir, names[i], d, prev)
				results[i] = result{d, es, errs}
			}
		})
	}
	wg.Wait()
	snap := &snapshot{sign: make(map[string][]dkim.Key, len(names)), domains: make(map[string][]Entry, len(names))}
	for _, r := range results {
		es := r.entries
		if len(r.errs) > 0 {
			errs = append(errs, r.errs...)
			snap.broken += len(r.errs)
			if old != nil && old.domains[r.domain] != nil {
				es = old.domains[r.domain] // keep the domain as it was
			}
		}
		if len(es) == 0 {
			continue
		}
		snap.domains[r.domain] = es
		var active []dkim.Key
		for _, e := range es {
			if e.State == Active {
				active = append(active, e.key)
			}
		}
		if active != nil {
			snap.sign[r.domain] = active
		}
	}
	return snap, errs, nil
}

// isDir follows a symbolic link to a domain directory.
func isDir(dir string, de os.DirEntry) bool {
	if de.IsDir() {
		return true
	}
	if de.Type()&os.ModeSymlink == 0 {
		return false
	}
	fi, err := os.Stat(filepath.Join(dir, de.Name()))
	return err == nil && fi.IsDir()
}

// ErrNoDomain is returned by Domain for a domain without a directory.
var ErrNoDomain = errors.New("no such domain in the key table")

// Domain reads one domain's directory afresh (for rotate and dns-check,
// which must see the files as they are now). Broken files are errors.
func Domain(dir, domain string) ([]Entry, error) {
	d, err := domainOf(domain)
	if err != nil {
		return nil, err
	}
	name := d
	if _, err := os.Stat(filepath.Join(dir, name)); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (%s)", d, ErrNoDomain, filepath.Join(dir, name))
	}
	es, errs := scanDomain(dir, name, d, nil)
	if len(errs) > 0 {
		return es, errJoin(errs, maxLoggedErrors)
	}
	return es, nil
}
