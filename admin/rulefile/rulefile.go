// Package rulefile is the admin rule source: the [admin] rules_file that
// spamgate owns, written by the admin console, read by the engine at every
// RCPT.
//
// The file is TOML, one [[rule]] table per rule, with the keys of a
// [[policy.rule]] entry plus id (the console's handle), by and at (who
// changed it last, and when):
//
//	[[rule]]
//	id = "6f1c2a9e04d3"
//	by = "alice"
//	at = 2026-12-07T23:30:00Z
//	recipient = "alice@corp.test"
//	require_tls = true
//
// TOML rather than a policy table file: the keys and value types are those
// of [[policy.rule]] (the JSON API takes the same keys, so a rule is checked
// by the very code check-config uses), and each rule has room for its id and
// who changed it, which a Postfix-style table has not.
//
// A Store holds the rules as an immutable policy.Policy behind an atomic
// pointer: a change builds a new one, writes the file (temp file, fsync,
// rename, fsync of the directory) and then swaps the pointer, so the next
// lookup (the next RCPT) sees it, and a crash leaves the old file or the new
// one, never half of one.
package rulefile

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	toml "github.com/pelletier/go-toml/v2"

	"spamgate/config"
	"spamgate/policy"
)

// MaxRules bounds the admin source: it is for hand-made exceptions;
// thousands of generated rules belong in a table file or Redis.
const MaxRules = 10000

// SourcePrefix starts the Source of every admin rule ("admin:ID").
const SourcePrefix = "admin:"

// Entry is one admin rule with its bookkeeping.
type Entry struct {
	ID   string
	By   string    // who changed it last
	At   time.Time // when
	Line int       // its [[rule]] line in the file, 0 before it is written
	Rule config.PolicyRule
}

// Source is the rule's Source in policy lookups, explain and decisions.
func (e Entry) Source() string { return SourcePrefix + e.ID }

// Keys are the rule's [[policy.rule]] keys, as the JSON API shows them.
func (e Entry) Keys() map[string]any { return RuleKeys(e.Rule) }

// snapshot is one generation of the rules; never changed once published.
type snapshot struct {
	entries []Entry
	policy  *policy.Policy
}

// Store is the admin rule source. Lookups are lock-free; changes are
// serialized.
type Store struct {
	path string
	mu   sync.Mutex // serializes changes (and their file writes)
	cur  atomic.Pointer[snapshot]
}

// Open reads the rules file; a file that does not exist yet is an empty
// source (the console creates it at the first change). A broken file is
// an error naming its line, as check-config reports it.
func Open(path string) (*Store, error) {
	s := &Store{path: path}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Path is the rules file.
func (s *Store) Path() string { return s.path }

// Reload reads the file again (SIGHUP, or a hand edit); on error the
// rules in force stay.
func (s *Store) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	entries, err := load(s.path)
	if err != nil {
		return err
	}
	snap, err := build(entries)
	if err != nil {
		return err
	}
	s.cur.Store(snap)
	return nil
}

// Lookup returns the admin rule for a recipient of a transaction, as
// policy.Policy.Lookup does, or nil. A nil Store has no rules.
func (s *Store) Lookup(rcpt, sender string, client netip.Addr) *policy.Rule {
	if s == nil {
		return nil
	}
	return s.cur.Load().policy.Lookup(rcpt, sender, client)
}

// Entries returns the rules in file order (a copy).
func (s *Store) Entries() []Entry {
	if s == nil {
		return nil
	}
	return slices.Clone(s.cur.Load().entries)
}

// Len is the number of rules.
func (s *Store) Len() int {
	if s == nil {
		return 0
	}
	return len(s.cur.Load().entries)
}

// Get returns the rule with that id.
func (s *Store) Get(id string) (Entry, bool) {
	if s == nil {
		return Entry{}, false
	}
	for _, e := range s.cur.Load().entries {
		if e.ID == id {
			return e, true
		}
	}
	return Entry{}, false
}

// ErrNotFound: no rule has that id.
var ErrNotFound = errors.New("no admin rule with that id")

// Add checks keys as check-config checks a [[policy.rule]] (a
// *ValidationError otherwise), gives the rule a new id and writes the file.
func (s *Store) Add(by string, keys map[string]any, now time.Time) (Entry, error) {
	r, err := ParseKeys(keys)
	if err != nil {
		return Entry{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	entries := s.cur.Load().entries
	if len(entries) >= MaxRules {
		return Entry{}, &ValidationError{Msg: fmt.Sprintf("the admin source holds %d rules, its limit; put generated rules in a [policy] table file", MaxRules)}
	}
	e := Entry{ID: newID(), By: by, At: now.UTC().Truncate(time.Second), Rule: r}
	next := append(slices.Clone(entries), e)
	if err := s.commit(next); err != nil {
		return Entry{}, err
	}
	e, _ = s.Get(e.ID) // with its line
	return e, nil
}

// Update replaces the keys of rule id (the whole rule, as PUT does) and
// returns the rule before and after.
func (s *Store) Update(by, id string, keys map[string]any, now time.Time) (before, after Entry, err error) {
	r, err := ParseKeys(keys)
	if err != nil {
		return Entry{}, Entry{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := slices.Clone(s.cur.Load().entries)
	i := slices.IndexFunc(next, func(e Entry) bool { return e.ID == id })
	if i < 0 {
		return Entry{}, Entry{}, ErrNotFound
	}
	before = next[i]
	next[i] = Entry{ID: id, By: by, At: now.UTC().Truncate(time.Second), Rule: r}
	if err := s.commit(next); err != nil {
		return Entry{}, Entry{}, err
	}
	after, _ = s.Get(id)
	return before, after, nil
}

// Delete removes rule id and returns it.
func (s *Store) Delete(id string) (Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := slices.Clone(s.cur.Load().entries)
	i := slices.IndexFunc(next, func(e Entry) bool { return e.ID == id })
	if i < 0 {
		return Entry{}, ErrNotFound
	}
	gone := next[i]
	next = slices.Delete(next, i, i+1)
	return gone, s.commit(next)
}

// commit builds the new generation, writes it and publishes it; s.mu is
// held. The file is written before the swap: a rule the engine applies
// is a rule that survives a restart.
func (s *Store) commit(entries []Entry) error {
	data := Marshal(entries)
	entries = withLines(entries, data)
	snap, err := build(entries)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(s.path, data, 0o640); err != nil {
		return fmt.Errorf("admin rules: %w", err)
	}
	s.cur.Store(snap)
	return nil
}

// build compiles entries into a policy; the rules were checked one by one,
// so an error here is a conflict between them.
func build(entries []Entry) (*snapshot, error) {
	if len(entries) == 0 {
		// A nil policy answers at once: an empty admin source costs the
		// RCPT nothing (an empty compiled one still splits the address).
		return &snapshot{}, nil
	}
	rules := make([]policy.Rule, len(entries))
	for i, e := range entries {
		rules[i] = toPolicyRule(e)
	}
	p, _, err := policy.New(rules)
	if err != nil {
		return nil, &ValidationError{Msg: err.Error()}
	}
	return &snapshot{entries: entries, policy: p}, nil
}

func toPolicyRule(e Entry) policy.Rule {
	r := policy.Rule{Recipient: e.Rule.Recipient, Sender: e.Rule.Sender, Settings: e.Rule.Settings, Source: e.Source()}
	if e.Rule.ClientNetwork != "" {
		r.ClientNetwork, _ = parseNetwork(e.Rule.ClientNetwork) // checked by ParseKeys
	}
	return r
}

func parseNetwork(s string) (netip.Prefix, error) {
	ps, err := config.ParsePrefixes([]string{s})
	if err != nil {
		return netip.Prefix{}, err
	}
	return ps[0], nil
}

// newID is 12 hex digits: short enough to type, random enough never to
// collide within MaxRules.
func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// fileHeader starts every file spamgate writes.
const fileHeader = "# spamgate admin rules ([admin] rules_file), written by spamgate's admin console.\n" +
	"# Change them through the console or its API: spamgate rewrites this file.\n"

// fileEntry is a [[rule]] as written: bookkeeping first, then the keys.
type fileEntry struct {
	ID string    `toml:"id"`
	By string    `toml:"by"`
	At time.Time `toml:"at"`
	config.PolicyRule
}

// Marshal writes entries in the file format.
func Marshal(entries []Entry) []byte {
	var buf bytes.Buffer
	buf.WriteString(fileHeader)
	for _, e := range entries {
		b, err := toml.Marshal(struct {
			Rule []fileEntry `toml:"rule"`
		}{[]fileEntry{{ID: e.ID, By: e.By, At: e.At, PolicyRule: e.Rule}}})
		if err != nil {
			panic(fmt.Sprintf("admin rules: marshal: %v", err)) // plain strings, numbers and booleans
		}
		buf.WriteByte('\n')
		buf.Write(b)
	}
	return buf.Bytes()
}

// withLines fills each entry's Line from the written file: the i-th
// "[[rule]]" line is the i-th entry's.
func withLines(entries []Entry, data []byte) []Entry {
	out := slices.Clone(entries)
	lines := ruleLines(data)
	for i := range out {
		if i < len(lines) {
			out[i].Line = lines[i]
		}
	}
	return out
}

func ruleLines(data []byte) []int {
	var out []int
	for i, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) == "[[rule]]" {
			out = append(out, i+1)
		}
	}
	return out
}

// load reads the file; every problem is reported with its line, in the
// words check-config uses for a [[policy.rule]].
func load(path string) ([]Entry, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("admin rules: %w", err)
	}
	var doc struct {
		Rule []map[string]any `toml:"rule"`
	}
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, _ := de.Position()
			return nil, fmt.Errorf("%s:%d: %s", path, line, strings.TrimPrefix(de.Error(), "toml: "))
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Rule) > MaxRules {
		return nil, fmt.Errorf("%s: %d rules, more than the %d the admin source holds", path, len(doc.Rule), MaxRules)
	}
	lines := ruleLines(data)
	var errs []error
	entries := make([]Entry, 0, len(doc.Rule))
	seen := map[string]bool{}
	for i, m := range doc.Rule {
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		e, err := entryFromMap(m)
		if err == nil && seen[e.ID] {
			err = fmt.Errorf("id %q: used twice", e.ID)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", path, line, err))
			continue
		}
		seen[e.ID] = true
		e.Line = line
		entries = append(entries, e)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return entries, nil
}

// entryFromMap splits a [[rule]] table into its bookkeeping and its keys.
func entryFromMap(m map[string]any) (Entry, error) {
	m = maps.Clone(m)
	var e Entry
	var ok bool
	if e.ID, ok = m["id"].(string); !ok || e.ID == "" || strings.ContainsAny(e.ID, "/?#% ") {
		return e, errors.New("id: a rule needs an id (letters and digits)")
	}
	e.By, _ = m["by"].(string)
	switch at := m["at"].(type) {
	case time.Time:
		e.At = at
	case toml.LocalDateTime:
		e.At = at.AsTime(time.UTC)
	}
	delete(m, "id")
	delete(m, "by")
	delete(m, "at")
	r, err := ParseKeys(m)
	if err != nil {
		return e, err
	}
	e.Rule = r
	return e, nil
}

// WriteFileAtomic replaces path with data: a temporary file in the same
// directory, fsync, rename over path, fsync of the directory. A reader
// (or a crash) sees the old file or the new one, never a mix.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename: nothing left to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: fsync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write %s: open directory: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync directory: %w", path, err)
	}
	return nil
}
