package arc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"time"

	"spamgate/dkim"
)

// Defaults of Options.
const (
	// DefaultMaxLookups bounds the distinct key records one message may
	// make us fetch: a chain of N honest hops rarely uses more than N+1
	// keys, a hostile one could name a new selector in every signature.
	DefaultMaxLookups = 10
	// maxBodyHashes bounds the distinct body canonicalizations (c=, l=)
	// hashed for one message; the AMSs that would need another fail.
	maxBodyHashes = 4
)

// Options bound the work of one message.
type Options struct {
	// MaxInstances is the longest chain verified (1…50, default 50).
	// Longer chains fail.
	MaxInstances int
	// MaxLookups caps the distinct key records fetched per message
	// (default DefaultMaxLookups). Signatures that would need another
	// fail, and with them the chain.
	MaxLookups int
	// MaxBodyBytes bounds the body bytes hashed (0: no bound). The AMS of
	// a longer body does not verify, so its chain fails.
	MaxBodyBytes int64
	// Seal asks for the relaxed body hash a new AMS needs.
	Seal bool
	// Now is the clock for x= (time.Now when nil).
	Now func() time.Time
}

// Result is the outcome of a chain's verification.
type Result struct {
	Result     string // None, Pass or Fail
	Reason     string // why it failed, for logs and the A-R reason
	Instances  int    // N, the number of ARC sets (0 when the structure is broken)
	OldestPass int    // RFC 8617 5.2 step 5; 0 when every AMS verifies
	// Sealers are the AS d= of instances 1…N, AMSDomains their AMS d=.
	Sealers, AMSDomains []string
	// NewestAAR is the newest AAR after "i=N;": the authserv-id and the
	// results the newest sealer recorded.
	NewestAAR string
	// Temporary: the chain failed because a key lookup failed
	// temporarily, not because it is broken.
	Temporary bool
	// Signatures counts the signatures verified (AMS and AS).
	Signatures int
}

// field is one header field as the milter handed it over.
type field struct{ name, value string }

// bodyKey tells apart the body canonicalizations AMSs ask for.
type bodyKey struct {
	relaxed bool
	limit   int64
}

type bodyHash struct {
	h     hash.Hash
	canon *dkim.BodyCanon
	sum   []byte
}

// Message verifies (and seals, see Seal) the ARC chain of one message as
// it streams by. Use it from one goroutine: Header…, EndHeaders, Body…,
// Verify, then Seal if wanted.
type Message struct {
	lookup dkim.LookupTXT
	opt    Options

	fields  []field
	inline  [24]field // so a typical header block needs no allocation
	arcSeen int       // ARC fields seen, including those not kept

	sets      []*set
	structErr error
	bodies    map[bodyKey]*bodyHash
	body      int64
	overBody  bool
	closed    bool

	keys     map[string]*keyFuture // by lower-case name; len is the lookups made
	byName   map[string][]int      // field indexes by lower-case name, for h=
	hook     *sealHook
	result   Result
	verified bool
	sigs     int
	started  bool
}

// New returns a Message that fetches keys with lookup.
func New(lookup dkim.LookupTXT, opt Options) *Message {
	if opt.MaxInstances <= 0 || opt.MaxInstances > MaxInstances {
		opt.MaxInstances = MaxInstances
	}
	if opt.MaxLookups <= 0 {
		opt.MaxLookups = DefaultMaxLookups
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	m := &Message{lookup: lookup, opt: opt}
	m.fields = m.inline[:0]
	return m
}

// Header records one header field, as dkim.HeaderLine takes it. Past
// 3×MaxInstances ARC fields the rest are only counted: such a chain
// fails, and 10,000 ARC fields cost no more than 150.
func (m *Message) Header(name, value string) {
	if m.started {
		return
	}
	if kindOf(name) != kindOther {
		m.arcSeen++
		if m.arcSeen > 3*m.opt.MaxInstances {
			return
		}
	}
	m.fields = append(m.fields, field{name, value})
}

// HasChain reports whether the message carries ARC fields.
func (m *Message) HasChain() bool { return m.arcSeen > 0 }

// EndHeaders parses the chain and starts the body hashes it (and a seal)
// needs. A message without ARC fields that is not to be sealed hashes
// nothing.
func (m *Message) EndHeaders() {
	if m.started {
		return
	}
	m.started = true
	if m.arcSeen > 0 || m.opt.Seal {
		m.bodies = map[bodyKey]*bodyHash{}
	}
	if m.arcSeen > 0 {
		m.sets, m.structErr = m.parseChain()
	}
	for _, s := range m.sets {
		if k, err := amsBodyKey(s.amsTags); err == nil {
			m.addBody(k)
		}
	}
	if m.opt.Seal {
		m.addBody(m.sealBody())
	}
}

func (m *Message) parseChain() ([]*set, error) {
	if m.arcSeen > 3*m.opt.MaxInstances {
		return nil, fmt.Errorf("%w: %d ARC header fields, more than 3×%d", ErrStructure, m.arcSeen, m.opt.MaxInstances)
	}
	return collect(m.fields, m.opt.MaxInstances)
}

func (m *Message) addBody(k bodyKey) {
	if _, ok := m.bodies[k]; ok || len(m.bodies) >= maxBodyHashes {
		return
	}
	h := sha256.New()
	m.bodies[k] = &bodyHash{h: h, canon: dkim.NewBodyCanon(k.relaxed, h, k.limit)}
}

// Body feeds one body chunk to the body hashes.
func (m *Message) Body(chunk []byte) {
	if !m.started {
		m.EndHeaders()
	}
	if m.overBody || len(m.bodies) == 0 || m.closed {
		return
	}
	m.body += int64(len(chunk))
	if m.opt.MaxBodyBytes > 0 && m.body > m.opt.MaxBodyBytes {
		m.overBody = true
		return
	}
	for _, b := range m.bodies {
		b.canon.Write(chunk)
	}
}

func (m *Message) closeBody() {
	if m.closed {
		return
	}
	m.closed = true
	if !m.started {
		m.EndHeaders()
	}
	for _, b := range m.bodies {
		b.canon.Close()
		b.sum = b.h.Sum(nil)
	}
}

// Verify checks the chain (RFC 8617 5.2). It is computed once; later
// calls return the same result.
func (m *Message) Verify(ctx context.Context) Result {
	if m.verified {
		return m.result
	}
	m.closeBody()
	m.result = m.verify(ctx)
	m.result.Signatures = m.sigs
	m.verified = true
	return m.result
}

func (m *Message) verify(ctx context.Context) Result {
	if m.arcSeen == 0 {
		return Result{Result: None}
	}
	if m.structErr != nil {
		return Result{Result: Fail, Reason: m.structErr.Error()}
	}
	sets := m.sets
	r := Result{Result: Fail, Instances: len(sets)}
	for _, s := range sets {
		r.Sealers = append(r.Sealers, strings.ToLower(strings.TrimSpace(s.asTags["d"])))
		r.AMSDomains = append(r.AMSDomains, strings.ToLower(strings.TrimSpace(s.amsTags["d"])))
	}
	n := len(sets)
	r.NewestAAR = strings.TrimSpace(sets[n-1].aarPayload)
	if err := checkCV(sets); err != nil {
		r.Reason = err.Error()
		return r
	}
	if err := m.verifyAMS(ctx, n); err != nil {
		r.Reason, r.Temporary = fmt.Sprintf("ARC-Message-Signature i=%d: %v", n, err), isTemporary(err)
		return r
	}
	if err := m.verifySeals(ctx); err != nil {
		r.Reason, r.Temporary = err.Error(), isTemporary(err)
		return r
	}
	r.Result, r.OldestPass = Pass, 0
	for i := n - 1; i >= 1; i-- {
		if m.verifyAMS(ctx, i) != nil {
			r.OldestPass = i + 1
			break
		}
	}
	return r
}

// verifySeals checks every AS, newest first (RFC 8617 5.2 step 4).
func (m *Message) verifySeals(ctx context.Context) error {
	for i := len(m.sets); i >= 1; i-- {
		if err := m.verifyAS(ctx, i); err != nil {
			return fmt.Errorf("ARC-Seal i=%d: %w", i, err)
		}
	}
	return nil
}

// verifyAMS checks AMS(i): body hash, then the signature over the fields
// its h= selects and the AMS itself (RFC 8617 5.1.1, RFC 6376 3.7).
func (m *Message) verifyAMS(ctx context.Context, i int) error {
	s := m.sets[i-1]
	t := s.amsTags
	if _, ok := t["v"]; ok {
		return errors.New("has a v= tag") // RFC 8617 4.1.2: AMS has no v=
	}
	hc, _, err := canonOf(t["c"])
	if err != nil {
		return err
	}
	if err := checkTimes(t, m.opt.Now()); err != nil {
		return err
	}
	names, err := signedNames(t["h"])
	if err != nil {
		return err
	}
	bk, err := amsBodyKey(t)
	if err != nil {
		return err
	}
	b := m.bodies[bk]
	switch {
	case m.overBody:
		return errors.New("body over the size limit, not verified")
	case b == nil:
		return errors.New("too many distinct body canonicalizations")
	}
	bh, err := base64.StdEncoding.DecodeString(stripWS(t["bh"]))
	if err != nil || !bytes.Equal(bh, b.sum) {
		return errors.New("body hash mismatch")
	}
	var data []byte
	for _, f := range m.selectFields(names) {
		data = append(data, dkim.CanonHeader(hc, dkim.HeaderLine(f.name, f.value))...)
	}
	data = append(data, selfLine(hc, s.ams)...)
	return m.checkSig(ctx, t, data)
}

// verifyAS checks AS(i): relaxed canonicalization of AAR, AMS and AS of
// instances 1…i in order, AS(i) without its b= value (RFC 8617 5.1.1).
func (m *Message) verifyAS(ctx context.Context, i int) error {
	t := m.sets[i-1].asTags
	if err := checkTimes(t, m.opt.Now()); err != nil {
		return err
	}
	return m.checkSig(ctx, t, sealInput(m.sets[:i], nil))
}

// sealInput is the data an ARC-Seal signs: every set up to the last in
// order, the last AS without its b= value and final CRLF. With last nil,
// sets' own last AS is used.
//
// Each set is canonicalized once per message (a chain of N sets has N
// seals, each over all the sets before it) and the data allocated once.
func sealInput(sets []*set, last []byte) []byte {
	if last == nil {
		last = sets[len(sets)-1].as
	}
	self := selfLine(true, last)
	size := len(self)
	for j, s := range sets {
		s.canonicalize()
		size += len(s.canon[0]) + len(s.canon[1])
		if j < len(sets)-1 {
			size += len(s.canon[2])
		}
	}
	data := make([]byte, 0, size)
	for j, s := range sets {
		data = append(data, s.canon[0]...)
		data = append(data, s.canon[1]...)
		if j < len(sets)-1 {
			data = append(data, s.canon[2]...)
		}
	}
	return append(data, self...)
}

// selfLine is a signature field as it enters its own hash: b= emptied,
// canonicalized, without the final CRLF.
func selfLine(relaxed bool, line []byte) []byte {
	name, value, _ := strings.Cut(string(line), ":")
	stripped := []byte(name + ":" + dkim.StripSignature(strings.TrimSuffix(value, "\r\n")) + "\r\n")
	return bytes.TrimSuffix(dkim.CanonHeader(relaxed, stripped), []byte("\r\n"))
}

// checkSig verifies b= over data with the key named by d= and s=.
func (m *Message) checkSig(ctx context.Context, t map[string]string, data []byte) error {
	algo := strings.ToLower(strings.TrimSpace(t["a"]))
	if algo != "rsa-sha256" && algo != "ed25519-sha256" {
		return fmt.Errorf("algorithm %q not allowed", clip(algo))
	}
	sig, err := base64.StdEncoding.DecodeString(stripWS(t["b"]))
	if err != nil || len(sig) == 0 {
		return errors.New("b= is not base64")
	}
	if len(sig) > 1024 {
		return errors.New("b= longer than any key in use") // 8192-bit RSA is 1024 bytes
	}
	d, sel := strings.TrimSpace(t["d"]), strings.TrimSpace(t["s"])
	if d == "" || sel == "" {
		return errors.New("no d= or s=")
	}
	key, err := m.key(ctx, sel, d)
	if err != nil {
		return err
	}
	if len(key.Hashes) > 0 && !slices.Contains(key.Hashes, "sha256") {
		return errors.New("key h= excludes sha256")
	}
	m.sigs++
	sum := sha256.Sum256(data)
	switch pub := key.Public.(type) {
	case *rsa.PublicKey:
		if algo != "rsa-sha256" {
			return errors.New("a= does not match the key type")
		}
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			return errors.New("signature does not verify")
		}
	case ed25519.PublicKey:
		if algo != "ed25519-sha256" {
			return errors.New("a= does not match the key type")
		}
		if !ed25519.Verify(pub, sum[:], sig) {
			return errors.New("signature does not verify")
		}
	}
	return nil
}

// errTemporary marks a key lookup that may succeed on retry.
type errTemporary struct{ err error }

func (e errTemporary) Error() string { return e.err.Error() }

func isTemporary(err error) bool {
	var t errTemporary
	return errors.As(err, &t)
}

// canonOf parses c= (RFC 6376 3.5; default simple/simple).
func canonOf(c string) (header, body bool, err error) {
	c = strings.ToLower(strings.TrimSpace(c))
	if c == "" {
		return false, false, nil
	}
	h, b, _ := strings.Cut(c, "/")
	parse := func(s string) (bool, error) {
		switch s {
		case "", "simple":
			return false, nil
		case "relaxed":
			return true, nil
		}
		return false, fmt.Errorf("unknown canonicalization %q", clip(s))
	}
	if header, err = parse(h); err != nil {
		return
	}
	body, err = parse(b)
	return
}

func amsBodyKey(t map[string]string) (bodyKey, error) {
	_, relaxed, err := canonOf(t["c"])
	if err != nil {
		return bodyKey{}, err
	}
	k := bodyKey{relaxed: relaxed, limit: -1}
	if l, ok := t["l"]; ok {
		n, err := strconv.ParseInt(strings.TrimSpace(l), 10, 64)
		if err != nil || n < 0 {
			return bodyKey{}, fmt.Errorf("bad l= %q", clip(l))
		}
		k.limit = n
	}
	return k, nil
}

// checkTimes applies t= and x= (RFC 6376 3.5): x= in the past, or before
// t=, fails the signature.
func checkTimes(t map[string]string, now time.Time) error {
	var ts, xs int64 = -1, -1
	if v, ok := t["t"]; ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad t= %q", clip(v))
		}
		ts = n
	}
	if v, ok := t["x"]; ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("bad x= %q", clip(v))
		}
		xs = n
	}
	switch {
	case ts >= 0 && xs >= 0 && xs < ts:
		return errors.New("x= is before t=")
	case xs >= 0 && xs < now.Unix():
		return errors.New("signature expired (x=)")
	}
	return nil
}

// signedNames splits h=. From must be signed (RFC 6376 5.4), and an AMS
// must not sign ARC-Seal (RFC 8617 4.1.2: the seal covers the AMS, not the
// other way round).
func signedNames(h string) ([]string, error) {
	var names []string
	from := false
	for n := range strings.SplitSeq(h, ":") {
		n = strings.Trim(n, " \t\r\n")
		if n == "" {
			continue
		}
		if strings.EqualFold(n, NameAS) {
			return nil, errors.New("h= lists ARC-Seal")
		}
		from = from || strings.EqualFold(n, "From")
		names = append(names, n)
	}
	if !from {
		return nil, errors.New("h= does not list From")
	}
	if len(names) > 256 {
		return nil, errors.New("h= lists over 256 fields")
	}
	return names, nil
}

// selectFields picks, for each name of h= in order, the last field of
// that name not picked yet (RFC 6376 5.4.2); a name with none left picks
// nothing. The index by name keeps it linear in h= however many fields
// the message has.
func (m *Message) selectFields(names []string) []field {
	if m.byName == nil {
		m.byName = map[string][]int{}
		for i, f := range m.fields {
			n := strings.ToLower(strings.TrimRight(f.name, " \t"))
			m.byName[n] = append(m.byName[n], i)
		}
	}
	taken := map[string]int{}
	var out []field
	for _, n := range names {
		n = strings.ToLower(n)
		idx := m.byName[n]
		if k := taken[n]; k < len(idx) {
			out = append(out, m.fields[idx[len(idx)-1-k]])
			taken[n] = k + 1
		}
	}
	return out
}

func stripWS(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}
