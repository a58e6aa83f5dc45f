package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// Key is one signing key: d=, s= and the private key (*rsa.PrivateKey or
// ed25519.PrivateKey).
type Key struct {
	Domain, Selector string
	Signer           crypto.Signer
}

// signedFields is the default h= list. Transport headers (Received,
// Return-Path) are left out: they change in transit (RFC 6376 5.4.1).
var signedFields = [...]string{
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding",
}

// oversigned fields are listed once more than they occur, so that adding
// another one later breaks the signature (RFC 6376 8.15).
func oversigned(name string) bool {
	switch name {
	case "From", "To", "Subject", "Date":
		return true
	}
	return false
}

// Signer signs one message with one or more keys (dual rsa + ed25519
// signing, RFC 8463 section 4) as it streams by. Use it from one goroutine:
// Header…, EndHeaders, Body…, Close.
type Signer struct {
	keys    []Key
	fields  []field
	signers []*msgdkim.Signer
	run     *blankFilter // withholds runs of empty lines from go-msgauth
	err     error
}

// NewSigner checks the keys and returns a Signer for one message.
func NewSigner(keys []Key) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("dkim: no signing keys")
	}
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return nil, err
		}
	}
	return &Signer{keys: keys}, nil
}

func checkKey(k Key) error {
	if k.Domain == "" || k.Selector == "" {
		return fmt.Errorf("dkim: key %s/%s: domain and selector are required", k.Domain, k.Selector)
	}
	switch pub := k.Signer.(type) {
	case *rsa.PrivateKey:
		if pub.N.BitLen() < 1024 {
			// RFC 8301 3.2: verifiers refuse such keys.
			return fmt.Errorf("dkim: key %s/%s: RSA key of %d bits, need at least 1024 (RFC 8301)", k.Domain, k.Selector, pub.N.BitLen())
		}
	case ed25519.PrivateKey:
	default:
		return fmt.Errorf("dkim: key %s/%s: unsupported key type %T", k.Domain, k.Selector, k.Signer)
	}
	return nil
}

// Header records one header field as the milter handed it over.
func (s *Signer) Header(name, value string) {
	s.fields = append(s.fields, field{name, value})
}

// EndHeaders starts one go-msgauth signer per key and feeds it the header
// block, rebuilt byte-exact.
func (s *Signer) EndHeaders() {
	if s.signers != nil || s.err != nil {
		return
	}
	block := make([]byte, 0, 1024)
	for _, f := range s.fields {
		block = appendSafeHeaderLine(block, f.name, f.value)
	}
	block = append(block, '\r', '\n')
	h := headerKeys(s.fields)
	for _, k := range s.keys {
		ms, err := msgdkim.NewSigner(&msgdkim.SignOptions{
			Domain:                 k.Domain,
			Selector:               k.Selector,
			Signer:                 k.Signer,
			HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
			BodyCanonicalization:   msgdkim.CanonicalizationRelaxed,
			HeaderKeys:             h,
		})
		if err != nil {
			s.fail(fmt.Errorf("dkim: signer %s/%s: %w", k.Domain, k.Selector, err))
			return
		}
		s.signers = append(s.signers, ms)
	}
	// Our own users' mail is trusted not to be hostile: any run of empty
	// lines is replayed, however long (limit 0). The signers all use
	// relaxed body canonicalization.
	s.run = newBlankFilter(bodyRelaxed, 0, s.writeErr)
	s.write(block)
}

// headerKeys builds h=: each listed field as often as it occurs, and the
// oversigned ones once more. From is always listed (RFC 6376 5.4: it MUST
// be signed), even if absent.
func headerKeys(fields []field) []string {
	var h []string
	for _, name := range signedFields {
		n := 0
		for _, f := range fields {
			if strings.EqualFold(strings.TrimSpace(f.name), name) {
				n++
			}
		}
		if oversigned(name) {
			n++
		}
		for range n {
			h = append(h, name)
		}
	}
	return h
}

// Body feeds one body chunk to every signer.
func (s *Signer) Body(chunk []byte) error {
	if s.signers == nil && s.err == nil {
		s.EndHeaders()
	}
	if s.err == nil {
		s.run.feed(chunk) // writeErr records errors in s.err
	}
	return s.err
}

func (s *Signer) writeErr(b []byte) error {
	s.write(b)
	return s.err
}

func (s *Signer) write(b []byte) {
	if s.err != nil {
		return
	}
	for _, ms := range s.signers {
		if _, err := ms.Write(b); err != nil {
			s.fail(fmt.Errorf("dkim: sign: %w", err))
			return
		}
	}
}

// fail records the first error and stops the signer goroutines.
func (s *Signer) fail(err error) {
	s.err = err
	for _, ms := range s.signers {
		ms.Close()
	}
}

// Abort drops the message and stops the signer goroutines. Use it when the
// milter aborts a message and Close will not be called.
func (s *Signer) Abort() {
	if s.err == nil {
		s.fail(errAborted)
	}
}

// Close finishes the message and returns the DKIM-Signature values, one per
// key in key order, ready for a milter insert (SMFIR_INSHEADER at index 1)
// with SMFIP_HDR_LEADSPC negotiated: they start with their leading space and
// fold with a bare "\n" followed by white space, as Postfix expects.
func (s *Signer) Close() ([]string, error) {
	if s.signers == nil && s.err == nil {
		s.EndHeaders()
	}
	if s.err == nil {
		s.run.close()
	}
	if s.err != nil {
		return nil, s.err
	}
	vals := make([]string, 0, len(s.signers))
	for i, ms := range s.signers {
		if err := ms.Close(); err != nil {
			return nil, fmt.Errorf("dkim: sign with %s/%s: %w", s.keys[i].Domain, s.keys[i].Selector, err)
		}
		vals = append(vals, insertValue(ms.Signature()))
	}
	return vals, nil
}

// insertValue turns go-msgauth's "DKIM-Signature: v=1;…\r\n b=…\r\n" into
// the value a milter inserts: everything after the first ":" (leading space
// kept), without the final CRLF, with "\r\n" folds as "\n". Postfix puts the
// name and the ":" back and gives each "\n" its CRLF on the wire, so the
// header the recipient sees is byte for byte the one that was signed.
func insertValue(sig string) string {
	_, v, _ := strings.Cut(sig, ":")
	v = strings.TrimSuffix(v, "\r\n")
	return strings.ReplaceAll(v, "\r\n", "\n")
}
