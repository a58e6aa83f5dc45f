package dkimkeys

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// WritePending stores a new key as DIR/DOMAIN/SELECTOR.pem (mode 0600)
// with a SELECTOR.pending marker, so that it signs nothing until Rotate
// has seen its DNS record. The marker is written first and the key file
// appears by a hard link of a complete temporary file, so a reload never
// sees a half-written key nor an unmarked one; an existing key is never
// overwritten. It returns the key file's path.
func WritePending(dir, domain, selector string, pemKey []byte) (string, error) {
	d, err := domainOf(domain)
	if err != nil {
		return "", err
	}
	if !validSelector(selector) {
		return "", fmt.Errorf("%q is not a valid selector (letters, digits, hyphens, dots)", selector)
	}
	ddir := filepath.Join(dir, d)
	if err := os.MkdirAll(ddir, 0o700); err != nil {
		return "", fmt.Errorf("dkim keys_dir: %w", err)
	}
	path := filepath.Join(ddir, selector+keySuffix)
	if _, err := os.Lstat(path); err == nil {
		return "", fmt.Errorf("%s exists; choose another selector", path)
	}
	if err := writeNew(filepath.Join(ddir, selector+pendingSuffix), []byte("written by spamgate dkim keygen; spamgate dkim rotate activates it\n")); err != nil {
		return "", err
	}
	tmp := filepath.Join(ddir, "."+selector+keySuffix+".tmp")
	os.Remove(tmp) // a leftover of a crash: ours, never a live key (dot files are ignored)
	if err := writeNew(tmp, pemKey); err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		return "", fmt.Errorf("dkim key %s: %w", path, err)
	}
	return path, nil
}

// writeNew creates path (mode 0600) with data; an existing file is an error.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("dkim keys_dir: %w", err)
	}
	_, err = f.Write(data)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("dkim keys_dir: write %s: %w", path, err)
	}
	return nil
}

// Rotation is what Rotate did.
type Rotation struct {
	Activated []Entry `json:"activated"`
	Retired   []Entry `json:"retired"`
}

// Verify checks that e's key record is published and matches e's key; a
// nil error allows Rotate to make e active.
type Verify func(ctx context.Context, e Entry) error

// ErrNothingPending is returned by Rotate for a domain without a pending key.
var ErrNothingPending = errors.New("no pending key")

// Rotate makes, per algorithm, the newest pending key of domain active and
// retires the keys that signed before it. Every new key's record must
// pass verify first, else nothing changes: a key that signs before its
// record is published makes every message fail DKIM. The .pending marker is
// removed before the old keys are marked retired, so that each algorithm
// always has a key signing (the newer .pem wins meanwhile).
func Rotate(ctx context.Context, dir, domain string, verify Verify) (Rotation, error) {
	es, err := Domain(dir, domain)
	if err != nil {
		return Rotation{}, fmt.Errorf("rotate %s: nothing changed: %w", domain, err)
	}
	newest := map[string]Entry{}
	for _, e := range es {
		if n, ok := newest[e.Algo]; e.State == Pending && (!ok || newer(e, n)) {
			newest[e.Algo] = e
		}
	}
	if len(newest) == 0 {
		return Rotation{}, fmt.Errorf("rotate %s: %w in %s; \"spamgate dkim keygen -dir %s -domain %s -selector S\" writes one",
			domain, ErrNothingPending, filepath.Join(dir, strings.ToLower(domain)), dir, domain)
	}
	var refused []error
	for _, n := range newest {
		if err := verify(ctx, n); err != nil {
			refused = append(refused, fmt.Errorf("selector %s (%s): %w", n.Selector, n.Algo, err))
		}
	}
	if len(refused) > 0 {
		return Rotation{}, fmt.Errorf("rotate %s refused, nothing changed: %w", domain, errors.Join(refused...))
	}
	var rot Rotation
	for _, n := range newest {
		if err := os.Remove(markerPath(n, pendingSuffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return rot, fmt.Errorf("rotate %s: activate %s: %w", domain, n.Selector, err)
		}
		rot.Activated = append(rot.Activated, n)
	}
	stamp := time.Now().UTC().Format(time.RFC3339)
	for _, e := range es {
		n, ok := newest[e.Algo]
		if !ok || e.State == Pending || e.State == Retired {
			continue
		}
		note := fmt.Sprintf("retired %s by spamgate dkim rotate, replaced by %s; keep its DNS record until no mail signed with it is in flight\n", stamp, n.Selector)
		if err := writeNew(markerPath(e, retiredSuffix), []byte(note)); err != nil {
			return rot, fmt.Errorf("rotate %s: %s is active, but retiring %s failed: %w", domain, n.Selector, e.Selector, err)
		}
		rot.Retired = append(rot.Retired, e)
	}
	return rot, nil
}

func markerPath(e Entry, suffix string) string {
	return strings.TrimSuffix(e.File, keySuffix) + suffix
}
