package dkim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// Result words of RFC 8601 section 2.7.1 (RFC 7601 added "policy" use for
// DKIM signatures that verify but that local policy refuses).
const (
	Pass      = "pass"
	Fail      = "fail"
	Neutral   = "neutral"
	Policy    = "policy"
	TempError = "temperror"
	PermError = "permerror"
)

// DefaultMaxSignatures caps the signatures verified per message, so that a
// message with a hundred signatures costs what one with five does.
const DefaultMaxSignatures = 5

// LookupTXT returns the TXT records at name, one string per record with the
// record's strings concatenated (as net.Resolver.LookupTXT does). Errors
// should be, or wrap, *net.DNSError; it must return when ctx ends.
type LookupTXT func(ctx context.Context, name string) ([]string, error)

// Result is the outcome of one DKIM-Signature, with what RFC 8601 and
// RFC 6008 want in Authentication-Results. The tag values come from the
// signature itself and are untrusted: quote them when writing a header.
type Result struct {
	Result    string // Pass, Fail, Neutral, Policy, TempError or PermError
	Domain    string // d=
	Selector  string // s=
	Algorithm string // a=
	BPrefix   string // first 8 characters of b= (RFC 6008 header.b)
	Identity  string // i=
	Reason    string // why, for logs and the A-R comment; empty on pass
	// OverLimit: the message exceeded a size limit of the Verifier and the
	// signature was not verified (Result is Policy).
	OverLimit bool
	// Unverified: the signature was not checked to the end, whatever the
	// reason (a size limit, the deadline, a body built to exhaust memory,
	// a broken stream). It vouches for nothing: an attacker chooses the
	// size and shape of the message, so for DMARC it is not a pass and not
	// a pass that might have been (temperror) either.
	Unverified bool
}

// field is one header field as the milter handed it over. Holding the
// caller's strings costs no copy.
type field struct{ name, value string }

// outcome is what the go-msgauth goroutine hands back.
type outcome struct {
	verifs []*msgdkim.Verification
	err    error
}

// errVerifierDone closes the pipe once go-msgauth has its answers, so that
// later Body calls return at once instead of feeding a reader that stopped.
var errVerifierDone = errors.New("dkim: verification finished")

var errAborted = errors.New("dkim: message aborted")

// errBlankRun stops verification of a body built to exhaust memory or
// time: empty lines (or, for relaxed canonicalization, lines of white space)
// that go-msgauth would hold or be replayed, over maxBlankRun (blank.go).
var errBlankRun = errors.New("dkim: body has over 1 MiB of consecutive empty lines; not verified")

// limitError stops verification of a message over one of the Verifier's
// size limits.
type limitError struct{ what string }

func (e *limitError) Error() string { return "dkim: " + e.what + "; not verified" }

// Verifier checks the DKIM signatures of one message as it streams by.
// Use it from one goroutine: Header…, EndHeaders, Body…, Close.
type Verifier struct {
	ctx    context.Context
	lookup LookupTXT
	max    int

	fields []field
	inline [24]field // so a typical header block needs no allocation
	nsig   int

	sigs   []map[string]string // parsed tags of the signatures verified
	keys   *keyRecords
	pw     *io.PipeWriter
	done   chan outcome
	over   bool         // the verifier stopped reading the body
	filter *blankFilter // withholds runs of empty lines from go-msgauth
	// refused is why the message is not verified (a run of empty lines
	// built to exhaust memory, a size limit); nil while it is.
	refused error
	stop    func() bool

	maxHeader, maxBody int64 // 0: no limit
	headerBytes, body  int64

	// Inline verification (VerifyInline): while held is not nil, the
	// message is held there, the header block (its first blockLen bytes)
	// then the body, and no goroutine runs yet. One slice, so that
	// go-msgauth reads it without a copy buffer (an io.MultiReader
	// allocated 32 KiB).
	inlineMax int
	probe     CacheProbe
	held      []byte
	blockLen  int
}

// CacheProbe returns a context under which the lookups answer from a cache
// alone, and a function that reports whether one of them missed it, as
// dnsx.CacheOnly does.
type CacheProbe func(ctx context.Context) (probe context.Context, missed func() bool)

// VerifyInline lets the Verifier check a message whose body is at most
// maxBody bytes on the caller's goroutine, at Close, when probe shows at
// EndHeaders that every signature's key is in the cache: the common case of
// a repeat sender. The body is then held (at most maxBody bytes) instead of
// streamed to a verification goroutine, which saves that goroutine's start
// and a hand-over per body chunk, each a thread wake-up at low load. A
// longer body, or a key not cached (whose lookup should overlap the body's
// arrival), is streamed as usual. Call it before EndHeaders.
func (v *Verifier) VerifyInline(maxBody int, probe CacheProbe) {
	v.inlineMax, v.probe = maxBody, probe
}

// NewVerifier returns a Verifier that looks keys up with lookup and
// verifies at most maxSignatures signatures (DefaultMaxSignatures if ≤ 0).
// Nothing starts until EndHeaders sees a DKIM-Signature, so unsigned mail
// costs next to nothing. When ctx ends, pending results become temperror.
func NewVerifier(ctx context.Context, lookup LookupTXT, maxSignatures int) *Verifier {
	if maxSignatures <= 0 {
		maxSignatures = DefaultMaxSignatures
	}
	v := &Verifier{ctx: ctx, lookup: lookup, max: maxSignatures}
	v.fields = v.inline[:0]
	return v
}

// Limit bounds the header bytes the Verifier holds and the body bytes it
// hashes (0: no limit). The signatures of a message over either limit are
// not verified: their results are Policy, marked OverLimit. Call it before
// the first Header.
func (v *Verifier) Limit(headerBytes, bodyBytes int64) {
	v.maxHeader, v.maxBody = headerBytes, bodyBytes
}

// Header records one header field, in message order, as HeaderLine takes
// it. A name that cannot head a field of its own is dropped. Past the
// header limit only the signature fields are kept, to be reported.
func (v *Verifier) Header(name, value string) {
	if !validFieldName(name) {
		return
	}
	sig := isSignatureField(name)
	if sig {
		v.nsig++
	}
	v.headerBytes += int64(len(name) + len(value) + 3)
	if v.maxHeader > 0 && v.headerBytes > v.maxHeader && v.refused == nil {
		v.refused = &limitError{fmt.Sprintf("header section over %d bytes", v.maxHeader)}
		v.fields = v.signatureFields()
	}
	if v.refused == nil || sig && v.nsig <= v.max {
		v.fields = append(v.fields, field{name, value})
	}
}

// signatureFields returns the signature fields that will be reported, in a
// new slice (the old one may hold the message's whole header).
func (v *Verifier) signatureFields() []field {
	var out []field
	for _, f := range v.fields {
		if isSignatureField(f.name) && len(out) < v.max {
			out = append(out, f)
		}
	}
	return out
}

// EndHeaders starts verification if the message carries signatures.
func (v *Verifier) EndHeaders() {
	if v.nsig == 0 || v.pw != nil || v.sigs != nil {
		return
	}
	v.sigs = v.signatureTags()
	if v.refused != nil {
		return // nothing to verify: Close reports the signatures
	}
	v.keys = newKeyRecords()
	v.filter = newBlankFilter(bodyModeOf(v.sigs), maxBlankRun, v.write)
	if v.inlineMax > 0 && v.keysCached() {
		// Room for a typical body, so that it is not copied as it grows.
		block := v.headerBlock(min(v.inlineMax, inlineRoom))
		v.held, v.blockLen = block, len(block)
		return
	}
	v.stream(v.headerBlock(0))
}

// keysCached reports whether the cache holds every signature's key record
// (or its absence).
func (v *Verifier) keysCached() bool {
	probe, missed := v.probe(v.ctx)
	for _, tags := range v.sigs {
		d, sel := stripFWS(tags["d"]), stripFWS(tags["s"])
		if d == "" || sel == "" {
			continue // go-msgauth fails it without a lookup
		}
		_, _ = v.lookup(probe, sel+"._domainkey."+d)
		if missed() {
			return false
		}
	}
	return true
}

// stream starts the verification goroutine, which reads the header block
// and then the body from the pipe that Body feeds.
func (v *Verifier) stream(block []byte) {
	pr, pw := io.Pipe()
	v.pw = pw
	v.done = make(chan outcome, 1)
	// When ctx ends (the message was aborted, or time ran out), release the
	// goroutine and any Body call blocked on the pipe. The stream always
	// ends with EOF, never an error: go-msgauth's parallel verification does
	// not close its per-signature pipes when its reader fails, which left
	// one goroutine per signature (and what its canonicalizer held) behind
	// for good. Close knows the results of a stream cut short are void.
	v.stop = context.AfterFunc(v.ctx, func() { pw.Close() })
	go v.background(io.MultiReader(bytes.NewReader(block), pr), pr)
}

// Abort drops the message: it releases the verification goroutine without
// waiting for it. Use it when the milter aborts a message and Close will not
// be called.
func (v *Verifier) Abort() {
	v.held = nil
	if v.pw != nil {
		v.stop()
		v.pw.Close() // EOF, not an error: see EndHeaders
	}
}

// start covers a milter that skipped the end-of-headers event.
func (v *Verifier) start() {
	if !v.active() && v.sigs == nil && v.nsig > 0 {
		v.EndHeaders()
	}
}

// active reports whether the body is being verified: streamed or held.
func (v *Verifier) active() bool { return v.pw != nil || v.held != nil }

// inlineRoom is the body room made behind a held header block.
const inlineRoom = 8 << 10

// headerBlock rebuilds the header block byte-exact, ending in the empty
// line, in a slice with room for extra more bytes.
func (v *Verifier) headerBlock(extra int) []byte {
	n := 2 + extra
	for _, f := range v.fields {
		n += len(f.name) + len(f.value) + 8
	}
	b := make([]byte, 0, n)
	for _, f := range v.fields {
		b = appendSafeHeaderLine(b, f.name, f.value)
	}
	return append(b, '\r', '\n')
}

// signatureTags parses the tags of the signatures that will be verified;
// go-msgauth's Verification lacks s=, a= and b=. A malformed tag-list gives
// an empty map; go-msgauth reports it as permerror.
func (v *Verifier) signatureTags() []map[string]string {
	var sigs []map[string]string
	for _, f := range v.fields {
		if len(sigs) == v.max {
			break
		}
		if isSignatureField(f.name) {
			tags, err := ParseTagList(f.value)
			if err != nil {
				tags = map[string]string{}
			}
			sigs = append(sigs, tags)
		}
	}
	return sigs
}

// background is the verification goroutine. Once go-msgauth returns, the pipe is
// closed so that Body stops feeding it: with one signature go-msgauth may
// return before reading the body (a bad key, say).
func (v *Verifier) background(r io.Reader, pr *io.PipeReader) {
	verifs, err := msgdkim.VerifyWithOptions(r, &msgdkim.VerifyOptions{
		LookupTXT:        v.lookupTXT,
		MaxVerifications: v.max,
	})
	pr.CloseWithError(errVerifierDone)
	v.done <- outcome{verifs, err}
}

// Body feeds one body chunk (CRLF lines, as the milter gets them). It may
// block while the key lookups are pending: go-msgauth fetches the keys
// before it reads the body. The chunk is not retained.
func (v *Verifier) Body(chunk []byte) error {
	v.start()
	if !v.active() || v.over {
		return nil
	}
	if err := v.ctx.Err(); err != nil {
		return fmt.Errorf("dkim: verify body: %w", err)
	}
	if v.body += int64(len(chunk)); v.maxBody > 0 && v.body > v.maxBody {
		v.refuse(&limitError{fmt.Sprintf("body over %d bytes", v.maxBody)})
		return nil
	}
	ok, err := v.filter.feed(chunk)
	return v.fed(ok, err)
}

// fed handles what the filter reports after a write.
func (v *Verifier) fed(ok bool, err error) error {
	if err != nil && v.ctx.Err() != nil {
		return fmt.Errorf("dkim: verify body: %w", v.ctx.Err()) // it closed the pipe
	}
	if errors.Is(err, errVerifierDone) {
		v.over = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("dkim: verify body: %w", err)
	}
	if !ok {
		v.refuse(errBlankRun)
	}
	return nil
}

// refuse stops reading the body: the message will not be verified.
func (v *Verifier) refuse(err error) {
	v.refused, v.over = err, true
	v.held = nil
	if v.pw != nil {
		v.pw.Close() // EOF, not an error: see EndHeaders
	}
}

// write passes the filtered body on: held while it fits, else to the
// verification goroutine (started here, with what was held, when the body
// outgrows VerifyInline's bound).
func (v *Verifier) write(b []byte) error {
	if v.held != nil {
		if len(v.held)-v.blockLen+len(b) <= v.inlineMax {
			v.held = append(v.held, b...)
			return nil
		}
		held := v.held
		v.held = nil
		v.stream(held[:v.blockLen])
		if _, err := v.pw.Write(held[v.blockLen:]); err != nil {
			return err
		}
	}
	_, err := v.pw.Write(b)
	return err
}

// Close ends the message and returns one Result per verified signature, in
// header order. If ctx ends first, the results are temperror.
func (v *Verifier) Close() []Result {
	v.start()
	if !v.active() {
		if v.refused != nil {
			return v.refusedResults()
		}
		return nil
	}
	if !v.over {
		// A write error here is the verifier's own; its outcome says more.
		_ = v.fed(v.filter.close())
	}
	switch {
	case v.held != nil:
		return v.closeInline()
	case v.pw == nil: // refused while held, by the filter's last bytes
		return v.refusedResults()
	}
	v.pw.Close()
	defer v.stop()
	select {
	case o := <-v.done:
		// go-msgauth saw a body cut short if it was refused or ctx ended:
		// its verdicts (a body hash mismatch) are void.
		switch {
		case v.refused != nil:
			return v.refusedResults()
		case v.ctx.Err() != nil:
			return v.unverified(TempError, "verification cancelled: "+v.ctx.Err().Error())
		}
		return v.results(o)
	case <-v.ctx.Done():
		// The pipe is closed: the goroutine exits after its lookups return.
		return v.unverified(TempError, "verification cancelled: "+v.ctx.Err().Error())
	}
}

// closeInline verifies the held message on the caller's goroutine.
func (v *Verifier) closeInline() []Result {
	held := v.held
	v.held = nil
	if err := v.ctx.Err(); err != nil {
		return v.unverified(TempError, "verification cancelled: "+err.Error())
	}
	verifs, err := msgdkim.VerifyWithOptions(bytes.NewReader(held),
		&msgdkim.VerifyOptions{LookupTXT: v.lookupTXT, MaxVerifications: v.max})
	if err := v.ctx.Err(); err != nil {
		return v.unverified(TempError, "verification cancelled: "+err.Error())
	}
	return v.results(outcome{verifs, err})
}

// Skipped returns how many signatures the cap left unverified, for a note
// in the log.
func (v *Verifier) Skipped() int {
	return max(0, v.nsig-v.max)
}

// results maps go-msgauth's verifications onto Results.
func (v *Verifier) results(o outcome) []Result {
	if o.err != nil && !errors.Is(o.err, msgdkim.ErrTooManySignatures) {
		// Not a verdict about any signature: I/O trouble or cancellation.
		// Never lose mail: report temperror so the sender's retry helps.
		return v.unverified(TempError, strings.TrimPrefix(o.err.Error(), "dkim: "))
	}
	out := make([]Result, len(v.sigs))
	for i, tags := range v.sigs {
		out[i] = describe(tags)
		if i < len(o.verifs) && o.verifs[i] != nil {
			v.judge(&out[i], tags, o.verifs[i])
		} else {
			out[i].Result, out[i].Reason = TempError, "no verification result"
		}
	}
	return out
}

// refusedResults reports the signatures of a message not verified, as
// RFC 8601 2.7.1 "policy": signed, but not acceptable to us.
func (v *Verifier) refusedResults() []Result {
	out := v.unverified(Policy, strings.TrimPrefix(v.refused.Error(), "dkim: "))
	var le *limitError
	if errors.As(v.refused, &le) {
		for i := range out {
			out[i].OverLimit = true
		}
	}
	return out
}

// unverified reports every signature as not checked to the end.
func (v *Verifier) unverified(result, reason string) []Result {
	out := make([]Result, len(v.sigs))
	for i, tags := range v.sigs {
		out[i] = describe(tags)
		out[i].Result, out[i].Reason, out[i].Unverified = result, reason, true
	}
	return out
}

// describe fills in the signature's own tags. RFC 6376 3.5 lets white space
// appear anywhere in these values, so it is removed.
func describe(tags map[string]string) Result {
	b := stripFWS(tags["b"])
	if len(b) > 8 {
		b = b[:8]
	}
	return Result{
		Domain:    stripFWS(tags["d"]),
		Selector:  stripFWS(tags["s"]),
		Algorithm: strings.ToLower(stripFWS(tags["a"])),
		BPrefix:   b,
		Identity:  stripFWS(tags["i"]),
	}
}

// judge turns one go-msgauth verification into a result word.
func (v *Verifier) judge(r *Result, tags map[string]string, vf *msgdkim.Verification) {
	if vf.Domain != "" {
		r.Domain = vf.Domain
	}
	if vf.Err == nil {
		r.Result = Pass
		v.applyKeyFlags(r)
		return
	}
	r.Reason = strings.TrimPrefix(vf.Err.Error(), "dkim: ")
	r.Result = classify(vf.Err, tags)
}

// classify maps a go-msgauth error onto RFC 8601 words. go-msgauth exposes
// only temp/perm/other, so the policy cases are told apart by message; the
// tests pin each message, so an upstream rewording fails loudly.
func classify(err error, tags map[string]string) string {
	msg := err.Error()
	switch {
	case msgdkim.IsTempFail(err):
		return TempError
	case msgdkim.IsPermFail(err) && strings.Contains(msg, "key is too short"):
		// RFC 8301 3.2: RSA keys under 1024 bits MUST NOT be considered
		// valid. The signature may well verify; refusing it is policy.
		return Policy
	case msgdkim.IsPermFail(err) && strings.Contains(msg, "hash algorithm too weak"):
		// RFC 8301 3.1: rsa-sha1 MUST NOT be considered valid. go-msgauth
		// says permerror; we say fail, as issue 4 asks, because the
		// signature is well-formed and simply not acceptable.
		return Fail
	case msgdkim.IsPermFail(err):
		return PermError
	}
	if _, ok := tags["l"]; ok && strings.Contains(msg, "body length") {
		// go-msgauth refuses l= outright (content may be appended after
		// the signed part, RFC 6376 8.2); that is our policy, not a
		// broken signature.
		return Policy
	}
	return Fail
}
