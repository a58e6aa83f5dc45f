package dkim

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
)

// keyRecords remembers the key records fetched for one message, so that the
// key flags go-msgauth ignores (t=s, t=y) can be applied afterwards.
// go-msgauth looks keys up from one goroutine per signature, hence the lock.
type keyRecords struct {
	mu   sync.Mutex
	recs map[string]string
}

func newKeyRecords() *keyRecords { return &keyRecords{recs: make(map[string]string)} }

func (k *keyRecords) store(name string, txts []string) {
	if len(txts) != 1 {
		return // go-msgauth refuses zero or several records anyway
	}
	k.mu.Lock()
	k.recs[strings.ToLower(name)] = txts[0]
	k.mu.Unlock()
}

func (k *keyRecords) get(name string) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	rec, ok := k.recs[strings.ToLower(name)]
	return rec, ok
}

// lookupTXT is the hook handed to go-msgauth. go-msgauth classifies lookup
// errors with a plain type assertion, err.(net.Error) and Temporary(), so a
// wrapped error or a bare context error would turn a DNS timeout into
// permerror "no key". Always hand it an unwrapped *net.DNSError.
func (v *Verifier) lookupTXT(name string) ([]string, error) {
	txts, err := v.lookup(v.ctx, name)
	if err != nil {
		return nil, shapeDNSError(name, err)
	}
	v.keys.store(name, txts)
	return txts, nil
}

// shapeDNSError returns err as an unwrapped *net.DNSError. NXDOMAIN keeps
// IsNotFound (permerror: RFC 6376 6.1.2 "no key for signature"); anything
// unknown is marked temporary, because a lookup that did not say "no such
// name" may succeed on retry, and a retry never loses mail.
func shapeDNSError(name string, err error) *net.DNSError {
	var de *net.DNSError
	if errors.As(err, &de) {
		c := *de
		return &c
	}
	shaped := &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.As(err, &ne) && ne.Timeout() {
		shaped.IsTimeout = true
	}
	return shaped
}

// applyKeyFlags applies the key record's t= flags (RFC 6376 3.6.1) to a
// passing signature. go-msgauth parses them but does not act on them.
func (v *Verifier) applyKeyFlags(r *Result) {
	rec, ok := v.keys.get(r.Selector + "._domainkey." + r.Domain)
	if !ok {
		return
	}
	tags, err := ParseTagList(rec)
	if err != nil {
		return
	}
	for flag := range strings.SplitSeq(tags["t"], ":") {
		switch strings.TrimSpace(flag) {
		case "s":
			// "the "i=" domain MUST NOT be a subdomain of "d="".
			if _, dom, _ := strings.Cut(r.Identity, "@"); r.Identity != "" && !strings.EqualFold(dom, r.Domain) {
				r.Result, r.Reason = PermError, "i= is a subdomain of d= but the key has t=s"
				return
			}
		case "y":
			// Testing mode: still reported, but the reader should know.
			r.Reason = "key in testing mode (t=y)"
		}
	}
}
