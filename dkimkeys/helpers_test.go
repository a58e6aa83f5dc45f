package dkimkeys

import (
	"crypto"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"spamgate/dkim"
)

// keyPool generates keys once per test binary: an RSA key takes ~50 ms, and
// parsing, not generating, is what the table pays for.
type keyPool struct {
	once sync.Once
	rsa  [][]byte
	ed   [][]byte
	pubs map[string]crypto.PublicKey // PEM text → public key
}

var pool keyPool // read-only after once; test helper only

func (p *keyPool) get(t testing.TB, algo string, i int) ([]byte, crypto.PublicKey) {
	t.Helper()
	p.once.Do(func() {
		p.pubs = map[string]crypto.PublicKey{}
		for range 4 {
			for _, algo := range []string{"rsa", "ed25519"} {
				s, pemKey, err := dkim.GenerateKey(algo)
				if err != nil {
					panic(err)
				}
				p.pubs[string(pemKey)] = s.Public()
				if algo == "rsa" {
					p.rsa = append(p.rsa, pemKey)
				} else {
					p.ed = append(p.ed, pemKey)
				}
			}
		}
	})
	list := p.ed
	if algo == "rsa" {
		list = p.rsa
	}
	k := list[i%len(list)]
	return k, p.pubs[string(k)]
}

// writeKey writes DIR/DOMAIN/SELECTOR.pem (mode 0600) with the given age,
// and returns its public key.
func writeKey(t testing.TB, dir, domain, selector, algo string, i int, age time.Duration) crypto.PublicKey {
	t.Helper()
	pemKey, pub := pool.get(t, algo, i)
	ddir := filepath.Join(dir, domain)
	if err := os.MkdirAll(ddir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(ddir, selector+".pem")
	if err := os.WriteFile(path, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	mt := time.Now().Add(-age)
	if err := os.Chtimes(path, mt, mt); err != nil {
		t.Fatal(err)
	}
	return pub
}

func mark(t testing.TB, dir, domain, selector, suffix string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, domain, selector+suffix), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// selectors lists the selectors that sign for domain.
func selectors(tb *Table, domain string) []string {
	var out []string
	for _, k := range tb.Keys(domain) {
		out = append(out, k.Selector)
	}
	return out
}
