package dkimkeys

import (
	"cmp"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"spamgate/dkim"
	"spamgate/internal/fileid"
)

// Key states. Only Active keys sign.
const (
	Active  = "active"  // the newest non-retired, non-pending key of its algorithm
	Standby = "standby" // not retired, but a newer key of its algorithm signs
	Pending = "pending" // SELECTOR.pending exists: written, not yet made active by rotate
	Retired = "retired" // SELECTOR.retired exists: kept for its DNS record only
)

// Marker file suffixes beside SELECTOR.pem.
const (
	keySuffix     = ".pem"
	retiredSuffix = ".retired"
	pendingSuffix = ".pending"
)

// Entry is one key file of the table. The private key is not an exported
// field and Entry has no method that prints it: entries are logged and
// printed by dns-check.
type Entry struct {
	Domain   string    `json:"domain"`
	Selector string    `json:"selector"`
	Algo     string    `json:"algo"` // "rsa" or "ed25519"
	File     string    `json:"file"`
	State    string    `json:"state"`
	ModTime  time.Time `json:"mtime"`           // of SELECTOR.pem: "newest" compares these
	MarkTime time.Time `json:"marked,omitzero"` // of SELECTOR.retired or .pending
	key      dkim.Key  // never logged
	stamp    fileStamp // what the file looked like when parsed
}

// String names the key file and never shows the key: fmt would print the
// unexported field of a struct printed with %v.
func (e Entry) String() string {
	return fmt.Sprintf("%s/%s (%s, %s, %s)", e.Domain, e.Selector, e.Algo, e.State, e.File)
}

// LogValue keeps the private key out of logs.
func (e Entry) LogValue() slog.Value { return slog.StringValue(e.String()) }

// Public is the entry's public key, for comparing with the DNS record.
func (e Entry) Public() crypto.PublicKey { return e.key.Signer.Public() }

// fileStamp tells whether a file changed since it was parsed, without
// reading it.
type fileStamp struct {
	size  int64
	mtime int64 // nanoseconds
	inode uint64
	mode  fs.FileMode
}

func stampOf(fi fs.FileInfo) fileStamp {
	return fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano(), inode: fileid.Inode(fi), mode: fi.Mode()}
}

// prevKeys are the parsed keys of the table in force, by file path, so that
// a rescan parses only files that changed (10,000 RSA keys take seconds).
type prevKeys map[string]Entry

// scanDomain reads DIR/NAME, the directory of domain: every SELECTOR.pem
// with its markers. A key file that cannot be used is an error naming it;
// the others still load. A file unchanged since prev parsed it is not read
// again.
func scanDomain(dir, name, domain string, prev prevKeys) ([]Entry, []error) {
	ddir := filepath.Join(dir, name)
	des, err := os.ReadDir(ddir)
	if err != nil {
		return nil, []error{fmt.Errorf("dkim keys_dir: %w", err)}
	}
	marks := map[string]time.Time{}
	var pems []fs.DirEntry
	for _, de := range des {
		name := de.Name()
		switch {
		case strings.HasPrefix(name, "."): // temporary files of keygen and editors
		case strings.HasSuffix(name, keySuffix):
			pems = append(pems, de)
		case strings.HasSuffix(name, retiredSuffix), strings.HasSuffix(name, pendingSuffix):
			if fi, err := de.Info(); err == nil {
				marks[name] = fi.ModTime()
			}
		}
	}
	var out []Entry
	var errs []error
	for _, de := range pems {
		e, err := loadEntry(ddir, domain, de, prev)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if t, ok := marks[e.Selector+retiredSuffix]; ok {
			e.State, e.MarkTime = Retired, t
		} else if t, ok := marks[e.Selector+pendingSuffix]; ok {
			e.State, e.MarkTime = Pending, t
		}
		out = append(out, e)
	}
	choose(out)
	return out, errs
}

// loadEntry parses one SELECTOR.pem, or reuses prev's parse of it when the
// file's size, mtime, inode and mode are unchanged. Symbolic links are
// followed (hosters share one key between domains).
func loadEntry(ddir, domain string, de fs.DirEntry, prev prevKeys) (Entry, error) {
	selector := strings.TrimSuffix(de.Name(), keySuffix)
	path := filepath.Join(ddir, de.Name())
	if !validSelector(selector) {
		return Entry{}, fmt.Errorf("dkim key %s: %q is not a valid selector (letters, digits, hyphens, dots)", path, selector)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return Entry{}, fmt.Errorf("dkim key %s: %w", path, err)
	}
	st := stampOf(fi)
	if p, ok := prev[path]; ok && p.stamp == st {
		p.State, p.MarkTime = "", time.Time{}
		return p, nil
	}
	// LoadKey refuses a file group or others may read, and says why.
	k, err := dkim.LoadKey(path, domain, selector)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Domain: domain, Selector: selector, Algo: algoOf(k.Signer), File: path, ModTime: fi.ModTime(), key: k, stamp: st}, nil
}

func algoOf(s crypto.Signer) string {
	switch s.(type) {
	case *rsa.PrivateKey:
		return "rsa"
	case ed25519.PrivateKey:
		return "ed25519"
	}
	return "unknown" // dkim.LoadKey refuses other types
}

// choose sets the State of entries that have no marker: per algorithm the
// newest (latest .pem modification time, then the greater selector name)
// is Active, the others Standby. entries is sorted by selector afterwards.
func choose(entries []Entry) {
	best := map[string]int{}
	for i := range entries {
		e := &entries[i]
		if e.State != "" {
			continue
		}
		e.State = Standby
		j, ok := best[e.Algo]
		if !ok || newer(*e, entries[j]) {
			best[e.Algo] = i
		}
	}
	for _, i := range best {
		entries[i].State = Active
	}
	slices.SortFunc(entries, func(a, b Entry) int { return cmp.Compare(a.Selector, b.Selector) })
}

func newer(a, b Entry) bool {
	if !a.ModTime.Equal(b.ModTime) {
		return a.ModTime.After(b.ModTime)
	}
	return a.Selector > b.Selector
}

// validSelector: RFC 6376 3.1, sub-domain *("." sub-domain).
func validSelector(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if !validLabel(label) {
			return false
		}
	}
	return true
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// domainOf checks a directory name as a domain and returns it lower-cased.
func domainOf(name string) (string, error) {
	d := strings.ToLower(strings.TrimSuffix(name, "."))
	if !validSelector(d) || !strings.Contains(d, ".") {
		return "", fmt.Errorf("%q is not a domain name", name)
	}
	return d, nil
}

// errJoin keeps at most max errors and says how many more there were, so
// that 10,000 broken files make a readable log line.
func errJoin(errs []error, max int) error {
	if len(errs) <= max {
		return errors.Join(errs...)
	}
	return errors.Join(append(slices.Clip(errs[:max]), fmt.Errorf("… and %d more", len(errs)-max))...)
}
