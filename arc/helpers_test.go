package arc

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spamgate/dkim"
)

// testNow is the clock of every test: sealing and x= checks agree on it.
var testNow = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "arc", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testKey loads a key from testdata/arc (git does not keep mode 0600,
// so the file is parsed, not loaded with dkim.LoadKey).
func testKey(t testing.TB, file, domain, selector string) dkim.Key {
	t.Helper()
	signer, err := dkim.ParsePrivateKey([]byte(readTestdata(t, file)))
	if err != nil {
		t.Fatal(err)
	}
	return dkim.Key{Domain: domain, Selector: selector, Signer: signer}
}

// zone is the DNS of the unit tests: a name maps to its records or to an
// error. The end-to-end tests use a real DNS server (dnsx/dnstest).
type zone map[string]any

func (z zone) lookup(ctx context.Context, name string) ([]string, error) {
	switch v := z[strings.ToLower(name)].(type) {
	case []string:
		return v, nil
	case string:
		return []string{v}, nil
	case error:
		return nil, v
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (z zone) publish(t testing.TB, k dkim.Key) {
	t.Helper()
	rec, err := dkim.DNSRecord(k.Signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	z[strings.ToLower(k.Selector+"._domainkey."+k.Domain)] = rec
}

var errServfail = &net.DNSError{Err: "server misbehaving", Name: "x", IsTemporary: true}

// fields splits a raw message the way Postfix hands it to a milter with
// SMFIP_HDR_LEADSPC: value with its leading space and "\n" folds.
func fields(t testing.TB, raw string) ([]field, []byte) {
	t.Helper()
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	head, body, ok := strings.Cut(raw, "\r\n\r\n")
	if !ok {
		t.Fatal("message has no header/body separator")
	}
	var fs []field
	for line := range strings.SplitSeq(head, "\r\n") {
		if line[0] == ' ' || line[0] == '\t' {
			fs[len(fs)-1].value += "\n" + line
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		fs = append(fs, field{name, value})
	}
	return fs, []byte(body)
}

// message feeds a raw message into a new Message, in 7-byte chunks so
// that lines split across chunks are exercised.
func message(t testing.TB, raw string, z zone, opt Options, hook ...*sealHook) *Message {
	t.Helper()
	if opt.Now == nil {
		opt.Now = func() time.Time { return testNow }
	}
	m := New(z.lookup, opt)
	if len(hook) > 0 {
		m.hook = hook[0]
	}
	fs, body := fields(t, raw)
	for _, f := range fs {
		m.Header(f.name, f.value)
	}
	m.EndHeaders()
	m.Prefetch(context.Background()) // as the engine does: keys fetched while the body streams
	for len(body) > 0 {
		n := min(7, len(body))
		m.Body(body[:n])
		body = body[n:]
	}
	return m
}

func verify(t testing.TB, raw string, z zone) Result {
	t.Helper()
	return message(t, raw, z, Options{}).Verify(context.Background())
}

// seal adds the next ARC set to raw, as a milter's inserts at the top
// would, and returns the new message.
func seal(t testing.TB, raw string, z zone, k dkim.Key, hook *sealHook) string {
	t.Helper()
	m := message(t, raw, z, Options{Seal: true, MaxLookups: 64}, hook)
	fs, err := m.Seal(context.Background(), k, "mx."+k.Domain+"; spf=pass smtp.mailfrom=origin.example;\n\tdkim=pass header.d=origin.example", "", testNow.Unix()-60)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	var b strings.Builder
	for i := len(fs) - 1; i >= 0; i-- {
		b.WriteString(fs[i].Name + ": " + strings.ReplaceAll(fs[i].Value, "\n", "\r\n") + "\r\n")
	}
	return b.String() + raw
}
