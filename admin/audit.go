package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"spamgate/admin/rulefile"
)

// AuditEntry is one change made through the console: who, when, what, and
// the state before and after (null for a creation or a deletion).
type AuditEntry struct {
	Time   time.Time `json:"time"`
	User   string    `json:"user"`
	Action string    `json:"action"` // rule.add, rule.update, rule.delete, greylist.release, greylist.whitelist, greylist.unwhitelist
	Target string    `json:"target,omitempty"`
	Before any       `json:"before"`
	After  any       `json:"after"`
}

// DefaultAuditMaxBytes rotates the audit log: at that size it becomes
// FILE.1 (the one before is dropped) and a new FILE begins.
const DefaultAuditMaxBytes = 16 << 20

// maxAuditLine bounds one entry when reading (a rule is a few hundred bytes).
const maxAuditLine = 1 << 20

// auditLog appends JSON lines; writes are serialized and synced, since an
// audit entry that a crash loses is no audit.
type auditLog struct {
	path string
	max  int64
	mu   sync.Mutex
}

// auditBeside is the audit log's place next to the rules file.
func auditBeside(rulesFile string) string {
	return filepath.Join(filepath.Dir(rulesFile), "audit.jsonl")
}

func newAuditLog(path string, max int64) *auditLog {
	if max <= 0 {
		max = DefaultAuditMaxBytes
	}
	return &auditLog{path: path, max: max}
}

// add appends one entry; the change it records is already made, so a
// failure is returned for the caller to log, not to undo.
func (a *auditLog) add(e AuditEntry) error {
	if a.path == "" {
		return nil
	}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	line = append(line, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if fi, err := os.Stat(a.path); err == nil && fi.Size()+int64(len(line)) > a.max {
		if err := os.Rename(a.path, a.path+".1"); err != nil {
			return fmt.Errorf("audit: rotate: %w", err)
		}
	}
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	return f.Close()
}

// read returns the newest limit entries, newest first, from the log and
// its rotated generation.
func (a *auditLog) read(ctx context.Context, limit int) ([]AuditEntry, error) {
	if a.path == "" {
		return nil, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []AuditEntry
	for _, p := range []string{a.path, a.path + ".1"} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		entries, err := readAuditFile(p)
		if err != nil {
			return nil, err
		}
		slices.Reverse(entries)
		out = append(out, entries...)
		if len(out) >= limit {
			return out[:limit], nil
		}
	}
	return out, nil
}

func readAuditFile(path string) ([]AuditEntry, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	var out []AuditEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), maxAuditLine)
	for sc.Scan() {
		var e AuditEntry
		if json.Unmarshal(bytes.TrimSpace(sc.Bytes()), &e) == nil {
			out = append(out, e) // a torn last line (crash mid-write) is skipped
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("audit %s: %w", path, err)
	}
	return out, nil
}

// DefaultAuditLimit and MaxAuditLimit bound an Audit answer.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 10000
)

// Audit returns the newest changes, newest first.
func (c *Console) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	limit = min(limit, MaxAuditLimit)
	return c.audit.read(ctx, limit)
}

// record appends a change to the audit log and counts it; a failure to
// log is logged (the change is made).
func (c *Console) record(user, action, target string, before, after any) {
	c.m.change(action)
	e := AuditEntry{Time: c.now().UTC(), User: user, Action: action, Target: target, Before: before, After: after}
	if err := c.audit.add(e); err != nil {
		c.log.Error("admin change not audited", "user", user, "action", action, "target", target, "error", err)
	}
	c.log.Info("admin change", "user", user, "action", action, "target", target)
}

// writeFileAtomic is the rules file's atomic write, for the users file too.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return rulefile.WriteFileAtomic(path, data, perm)
}
