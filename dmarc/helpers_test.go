package dmarc

import (
	"context"
	"net"
	"strings"
	"sync"
	"time"
)

// fakeDNS is an in-memory Resolver. Names absent from txt are NXDOMAIN.
type fakeDNS struct {
	mu      sync.Mutex    // the prefetcher queries from several goroutines
	delay   time.Duration // each answer's round trip
	txt     map[string][]string
	fail    map[string]bool // names whose query fails with SERVFAIL
	queries []string
}

// zone makes a fakeDNS from "domain" → record text; each "_dmarc." is added.
func zone(records map[string]string) *fakeDNS {
	f := &fakeDNS{txt: map[string][]string{}, fail: map[string]bool{}}
	for d, rec := range records {
		f.txt["_dmarc."+d] = []string{rec}
	}
	return f
}

func (f *fakeDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, name)
	if f.fail[name] {
		return nil, &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
	}
	if t, ok := f.txt[name]; ok {
		return t, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fakeDNS) queried() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.queries, " ")
}
