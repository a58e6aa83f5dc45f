package greylist

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// memFileVersion changes when the format does; a file of another version
// is refused rather than misread.
const memFileVersion = 1

// memFile is the saved state. Triplet and client keys are hashed already,
// so the file holds no address in clear.
type memFile struct {
	Version   int           `json:"version"`
	Triplets  []fileTriplet `json:"triplets"` // least recently used first
	AWL       []fileAWL     `json:"awl"`
	Whitelist []fileWL      `json:"whitelist"`
}

type fileTriplet struct {
	Key   string `json:"k"`
	First int64  `json:"f"`
	Pass  int64  `json:"p,omitempty"`
	Exp   int64  `json:"e"`
}

type fileAWL struct {
	Key string `json:"k"`
	N   int    `json:"n"`
	Exp int64  `json:"e"`
}

type fileWL struct {
	Kind    string `json:"kind"`
	Value   string `json:"value"`
	Expires int64  `json:"expires,omitempty"`
}

// load reads o.File; a missing file is an empty state.
func (m *Memory) load() error {
	b, err := os.ReadFile(m.o.File)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("greylist state file: %w", err)
	}
	var f memFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("greylist state file %s: %w", m.o.File, err)
	}
	if f.Version != memFileVersion {
		return fmt.Errorf("greylist state file %s: version %d, want %d", m.o.File, f.Version, memFileVersion)
	}
	m.restore(f)
	return nil
}

// restore fills the (new, empty) state from f; entries already expired
// are left out.
func (m *Memory) restore(f memFile) {
	now := m.nowMS()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range f.Triplets {
		if now < t.Exp && t.First != 0 {
			m.addTriplet(t.Key, &memTriplet{first: t.First, pass: t.Pass, exp: t.Exp})
		}
	}
	for _, a := range f.AWL {
		if now < a.Exp {
			m.st.awl[a.Key] = &memAWL{n: a.N, exp: a.Exp}
		}
	}
	for _, w := range f.Whitelist {
		v, err := normalizeWhitelistValue(w.Kind, w.Value)
		if err == nil && (w.Expires == 0 || now/1000 < w.Expires) {
			m.st.wl[wlKey{w.Kind, v}] = w.Expires
		}
	}
}

// snapshot copies the state under the lock; encoding happens outside it,
// so that checks are not held up by a save.
func (m *Memory) snapshot() memFile {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := memFile{
		Version:   memFileVersion,
		Triplets:  make([]fileTriplet, 0, len(m.st.triplets)),
		AWL:       make([]fileAWL, 0, len(m.st.awl)),
		Whitelist: make([]fileWL, 0, len(m.st.wl)),
	}
	for e := m.st.lru.Front(); e != nil; e = e.Next() {
		k := e.Value.(string)
		t := m.st.triplets[k]
		f.Triplets = append(f.Triplets, fileTriplet{Key: k, First: t.first, Pass: t.pass, Exp: t.exp})
	}
	for k, a := range m.st.awl {
		f.AWL = append(f.AWL, fileAWL{Key: k, N: a.n, Exp: a.exp})
	}
	for k, exp := range m.st.wl {
		f.Whitelist = append(f.Whitelist, fileWL{Kind: k.kind, Value: k.value, Expires: exp})
	}
	return f
}

// save writes the state to o.File atomically: a temporary file in the
// same directory, synced, then renamed over the old one, so that a crash
// leaves the old state or the new one, never half of one.
func (m *Memory) save() error {
	if m.o.File == "" {
		return nil
	}
	b, err := json.Marshal(m.snapshot())
	if err != nil {
		return fmt.Errorf("greylist state file %s: encode: %w", m.o.File, err)
	}
	if err := writeAtomic(m.o.File, b); err != nil {
		return fmt.Errorf("greylist state file %s: %w", m.o.File, err)
	}
	return nil
}

func writeAtomic(name string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename it is gone: an error ignored
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
