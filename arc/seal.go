package arc

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"spamgate/dkim"
)

// sealFields are the fields a new AMS signs, each as often as it occurs
// (From at least once). Authentication-Results is left out: receivers
// remove and rewrite it (RFC 8617 4.1.2 lets the sealer choose).
var sealFields = [...]string{
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "DKIM-Signature", "List-Id", "List-Post",
	"List-Unsubscribe", "Sender",
}

// Field is one header field to add, in the milter's insert form: the value
// without its leading space, folded lines joined with "\n" + TAB. It is
// signed as "Name: Value" (one space, as the milter adapter inserts it),
// so that even c=simple holds on the wire.
type Field struct{ Name, Value string }

// ErrNoSeal reports a message that must not get another ARC set: the chain
// is at the instance limit.
var ErrNoSeal = errors.New("arc: chain is at the instance limit; not sealed")

// Seal returns the next ARC set (AAR, AMS, AS, in the order to insert
// them at the top so that AS ends up first) for the message, sealed with
// key. results is the Authentication-Results value of our ADMD
// ("authserv-id; method=result …"), which becomes the AAR. The chain
// validation status cv= is the message's own verification (Verify): a
// chain that failed, in any way, is sealed with cv=fail and the AS covers
// only the new set (RFC 8617 5.1.2), so no later hop can make it pass.
// Options.Seal must have been set before EndHeaders.
//
// cv, when not "", is the chain's status as our ADMD found it on the way
// in (the arc= of our own Authentication-Results on mail a list server
// re-sends, which may have changed the body since): it replaces our own
// verification, but can only make it worse, never turn a broken
// structure into a pass, and "none" only where there is no chain.
func (m *Message) Seal(ctx context.Context, key dkim.Key, results, cv string, now int64) ([]Field, error) {
	r := m.Verify(ctx)
	switch {
	case cv == Fail:
		r.Result = Fail
	case cv == Pass && r.Result == Fail && isAMSFailure(r.Reason) && m.verifySeals(ctx) == nil:
		// The newest AMS broke after our own verification on the way in
		// (the list changed the message), and every seal still holds.
		r.Result = Pass
	case cv == None && m.arcSeen > 0:
		r.Result = Fail
	}
	b := m.bodies[m.sealBody()]
	if b == nil {
		return nil, errors.New("arc: Seal without Options.Seal")
	}
	if m.overBody {
		return nil, errors.New("arc: body over the size limit; not sealed")
	}
	algo, err := algorithm(key.Signer)
	if err != nil {
		return nil, err
	}
	inst := r.Instances + 1
	cv = r.Result
	if r.Result != Pass && r.Result != None || r.Instances == 0 && m.arcSeen > 0 {
		cv, inst = Fail, m.topInstance()+1
	}
	amsExtra, asExtra := "", ""
	if h := m.hook; h != nil {
		// Conformance tests build chains a correct sealer never would.
		cv, amsExtra, asExtra = cmp.Or(h.cv, cv), h.ams, h.as
		inst = cmp.Or(h.inst, inst)
	}
	if inst > m.opt.MaxInstances {
		return nil, ErrNoSeal
	}
	i := strconv.Itoa(inst)
	aarValue := "i=" + i + "; " + strings.TrimSpace(strings.ReplaceAll(results, "\r\n", "\n"))
	head := fmt.Sprintf("i=%s; a=%s; d=%s; s=%s; t=%d;", i, algo, key.Domain, key.Selector, now)

	// AMS: the chosen fields from the bottom up, then the AMS itself.
	names := m.sealNames()
	canon, relaxed := "relaxed/relaxed", true
	if m.hook != nil && m.hook.simple {
		canon, relaxed = "simple/simple", false
	}
	amsValue := head + amsExtra + " c=" + canon + ";\n\th=" + strings.Join(names, ":") +
		";\n\tbh=" + base64.StdEncoding.EncodeToString(b.sum) + ";\n\tb="
	var data []byte
	for _, f := range m.selectFields(names) {
		data = append(data, dkim.CanonHeader(relaxed, dkim.HeaderLine(f.name, f.value))...)
	}
	data = append(data, selfLine(relaxed, dkim.HeaderLine(NameAMS, " "+amsValue))...)
	sig, err := sign(key.Signer, data)
	if err != nil {
		return nil, err
	}
	amsValue += fold(sig)

	// AS: every earlier set and the new one (only the new one after a
	// failure), relaxed.
	asValue := head + asExtra + " cv=" + cv + ";\n\tb="
	newSet := &set{aar: dkim.HeaderLine(NameAAR, " "+aarValue), ams: dkim.HeaderLine(NameAMS, " "+amsValue)}
	sets := []*set{newSet}
	if cv != Fail {
		sets = append(append([]*set{}, m.sets...), newSet)
	}
	sig, err = sign(key.Signer, sealInput(sets, dkim.HeaderLine(NameAS, " "+asValue)))
	if err != nil {
		return nil, err
	}
	asValue += fold(sig)
	return []Field{{NameAAR, aarValue}, {NameAMS, amsValue}, {NameAS, asValue}}, nil
}

// isAMSFailure: the chain failed at the newest AMS only (verify checks it
// before the seals), so every AS was not even looked at; see Seal.
func isAMSFailure(reason string) bool {
	return strings.HasPrefix(reason, "ARC-Message-Signature i=")
}

// sealHook changes what Seal writes, for tests only.
type sealHook struct {
	cv      string // cv= written
	inst    int    // i= written
	ams, as string // extra tags ("; x=1;" form: start with a space, end with ";")
	simple  bool   // AMS c=simple/simple
}

// sealBody is the body canonicalization of our AMS: relaxed (tests may
// ask for simple).
func (m *Message) sealBody() bodyKey {
	return bodyKey{relaxed: m.hook == nil || !m.hook.simple, limit: -1}
}

// topInstance is the highest well-formed instance number among the ARC
// fields kept, for numbering the set added to a broken chain.
func (m *Message) topInstance() int {
	top := 0
	for _, f := range m.fields {
		if kindOf(f.name) == kindOther {
			continue
		}
		if n, err := ParseInstance(f.name, f.value); err == nil && n > top {
			top = n
		}
	}
	if m.arcSeen > len(m.fields) && top < m.opt.MaxInstances {
		// Fields were dropped unread: assume the worst, no room left.
		return m.opt.MaxInstances
	}
	return top
}

// sealNames is h= for a new AMS: each field of sealFields as often as
// the message has it, From at least once.
func (m *Message) sealNames() []string {
	count := map[string]int{}
	for _, f := range m.fields {
		count[strings.ToLower(strings.TrimRight(f.name, " \t"))]++
	}
	var names []string
	for _, n := range sealFields {
		c := count[strings.ToLower(n)]
		if n == "From" && c == 0 {
			c = 1
		}
		for range c {
			names = append(names, n)
		}
	}
	return names
}

// OurSeal reports whether the newest ARC set was made by one of domains
// with authservID: a message that loops back, or that Postfix hands us a
// second time, is not sealed twice.
func (m *Message) OurSeal(authservID string, domains []string) bool {
	if len(m.sets) == 0 {
		return false
	}
	s := m.sets[len(m.sets)-1]
	id, _, _ := strings.Cut(strings.TrimSpace(s.aarPayload), ";")
	d := strings.TrimSpace(s.asTags["d"])
	if !strings.EqualFold(strings.TrimSpace(id), authservID) {
		return false
	}
	for _, ours := range domains {
		if strings.EqualFold(d, ours) {
			return true
		}
	}
	return false
}

func algorithm(s crypto.Signer) (string, error) {
	switch s.(type) {
	case ed25519.PrivateKey:
		return "ed25519-sha256", nil
	case *rsa.PrivateKey:
		return "rsa-sha256", nil
	}
	return "", fmt.Errorf("arc: unsupported key type %T", s)
}

func sign(s crypto.Signer, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	var sig []byte
	var err error
	if k, ok := s.(ed25519.PrivateKey); ok {
		sig = ed25519.Sign(k, sum[:])
	} else {
		sig, err = s.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
	if err != nil {
		return "", fmt.Errorf("arc: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// fold breaks a long base64 value into lines of 72 characters; the
// folding white space is ignored in b= (RFC 6376 3.5).
func fold(s string) string {
	var b strings.Builder
	for len(s) > 72 {
		b.WriteString(s[:72])
		b.WriteString("\n\t ")
		s = s[72:]
	}
	b.WriteString(s)
	return b.String()
}
