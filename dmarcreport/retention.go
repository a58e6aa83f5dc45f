package dmarcreport

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// retain deletes expired day files now and every retentionInterval until
// ctx ends. It runs in its own goroutine: listing and deleting files never
// holds up an Append.
func (h *History) retain(ctx context.Context) {
	defer h.wg.Done()
	t := time.NewTicker(retentionInterval)
	defer t.Stop()
	for {
		n, err := RemoveExpired(h.dir, h.opts.Days, h.opts.now())
		h.removed.Add(uint64(n))
		switch {
		case err != nil:
			h.log.Error("dmarc history: retention", "dir", h.dir, "error", err)
		case n > 0:
			h.log.Info("dmarc history: expired day files removed", "dir", h.dir, "files", n, "history_days", h.opts.Days)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RemoveExpired deletes the day files of dir older than the days UTC days
// before now's (days 7 on 2026-06-08 keeps 2026-06-01 to 2026-06-08) and
// returns how many it deleted. days <= 0 deletes nothing. Only names the
// History writes (dmarc-YYYY-MM-DD.jsonl) are touched.
func RemoveExpired(dir string, days int, now time.Time) (int, error) {
	if days <= 0 {
		return 0, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("dmarc history: %w", err)
	}
	oldest := dayOf(now.UTC().AddDate(0, 0, -days))
	n := 0
	var errs []string
	for _, e := range entries {
		day, ok := fileDay(e.Name())
		if !ok || e.IsDir() || day >= oldest {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		n++
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("dmarc history: %s", strings.Join(errs, "; "))
	}
	return n, nil
}

// fileDay returns the day of a history file name, and whether it is one.
func fileDay(name string) (string, bool) {
	day, ok := strings.CutPrefix(name, "dmarc-")
	day, ok2 := strings.CutSuffix(day, ".jsonl")
	if !ok || !ok2 {
		return "", false
	}
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return "", false
	}
	return day, true
}
