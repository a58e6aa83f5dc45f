package dmarcreport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"
)

const (
	// maxReadLineBytes is the longest line Read parses. It is well over
	// MaxLineBytes so that lines written before the caps (66 KB for a
	// 3,315-URI record) still read back; a longer one is skipped with a
	// warning, and only this much of it is ever in memory.
	maxReadLineBytes = 1 << 20
	// maxWarnings: a file of garbage must not become a slice of millions
	// of warnings; the rest are counted in one last warning.
	maxWarnings = 100
)

// Scan calls fn, file by file (oldest first) and line by line, with each
// evaluation with since <= Time < until in the history files of the days
// that overlap that range. Memory does not grow with the number of lines:
// one line is in memory at a time. Malformed lines (a crash mid-write
// leaves one) are skipped; the first maxWarnings are named, as
// "file:line: reason", in the returned warnings. The error is for files
// that cannot be listed or read.
func Scan(dir string, since, until time.Time, fn func(Evaluation)) ([]string, error) {
	files, err := historyFiles(dir, since, until)
	if err != nil {
		return nil, err
	}
	var w warnings
	for _, name := range files {
		if err := scanFile(name, since, until, fn, &w); err != nil {
			return nil, err
		}
	}
	return w.list(), nil
}

// Read returns what Scan finds as a slice: for tests and small histories.
// Reports are built with Scan and an Aggregator, whose memory does not grow
// with the number of evaluations.
func Read(dir string, since, until time.Time) ([]Evaluation, []string, error) {
	var evals []Evaluation
	warn, err := Scan(dir, since, until, func(e Evaluation) { evals = append(evals, e) })
	if err != nil {
		return nil, nil, err
	}
	return evals, warn, nil
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
		day, ok := fileDay(e.Name())
		if !ok || e.IsDir() || day < first || day > last {
			continue
		}
		names = append(names, filepath.Join(dir, e.Name()))
	}
	sort.Strings(names)
	return names, nil
}

func scanFile(name string, since, until time.Time, fn func(Evaluation), w *warnings) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("dmarc history: %w", err)
	}
	defer f.Close()
	if err := scanLines(f, name, since, until, fn, w); err != nil {
		return fmt.Errorf("dmarc history: read %s: %w", name, err)
	}
	return nil
}

// scanLines parses r as history lines; name is for the warnings.
func scanLines(r io.Reader, name string, since, until time.Time, fn func(Evaluation), w *warnings) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, tooLong, err := readLine(br)
		switch {
		case tooLong:
			w.add(fmt.Sprintf("%s:%d: line over %d bytes", name, n, maxReadLineBytes))
		case len(bytes.TrimSpace(line)) > 0:
			e, perr := parseLine(line)
			switch {
			case perr != nil:
				w.add(fmt.Sprintf("%s:%d: %v", name, n, perr))
			case !e.Time.Before(since) && e.Time.Before(until):
				fn(e)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readLine returns the next line. A line over maxReadLineBytes is read to
// its end and thrown away (tooLong), never held whole.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong && len(buf)+len(chunk) > maxReadLineBytes {
			tooLong, buf = true, nil
		}
		if !tooLong {
			if buf == nil && !errors.Is(err, bufio.ErrBufferFull) {
				return chunk, false, err // the usual case: no copy
			}
			buf = append(buf, chunk...)
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return buf, tooLong, err
		}
	}
}

// warnings keeps the first maxWarnings and counts the rest.
type warnings struct {
	first []string
	more  int
}

func (w *warnings) add(s string) {
	if len(w.first) < maxWarnings {
		w.first = append(w.first, s)
		return
	}
	w.more++
}

func (w *warnings) list() []string {
	if w.more == 0 {
		return w.first
	}
	return append(w.first, fmt.Sprintf("… and %d more malformed lines", w.more))
}

// readLines collects what scanLines finds (the fuzz test's entry point).
func readLines(r io.Reader, name string, since, until time.Time) ([]Evaluation, []string, error) {
	var evals []Evaluation
	var w warnings
	if err := scanLines(r, name, since, until, func(e Evaluation) { evals = append(evals, e) }, &w); err != nil {
		return nil, nil, err
	}
	return evals, w.list(), nil
}
