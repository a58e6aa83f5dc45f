package dkim

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"testing"
)

// postfixFields splits a raw message the way Postfix hands it to a milter
// with SMFIP_HDR_LEADSPC: name, and value after the ":" with its leading
// space kept and folds as bare "\n". It returns the CRLF body too.
func postfixFields(t testing.TB, raw string) ([]field, []byte) {
	t.Helper()
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	head, body, ok := strings.Cut(raw, "\r\n\r\n")
	if !ok {
		t.Fatal("message has no header/body separator")
	}
	var fields []field
	for line := range strings.SplitSeq(head, "\r\n") {
		if line[0] == ' ' || line[0] == '\t' {
			fields[len(fields)-1].value += "\n" + line
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		fields = append(fields, field{name, value})
	}
	return fields, []byte(body)
}

// feed streams fields and body into a Verifier or Signer, in chunks of
// size bytes, as the milter does.
type streamer interface {
	Header(name, value string)
	EndHeaders()
	Body([]byte) error
}

func feed(t testing.TB, s streamer, fields []field, body []byte, size int) {
	t.Helper()
	for _, f := range fields {
		s.Header(f.name, f.value)
	}
	s.EndHeaders()
	for len(body) > 0 {
		n := min(size, len(body))
		if err := s.Body(body[:n]); err != nil {
			t.Fatalf("Body: %v", err)
		}
		body = body[n:]
	}
}

// zone is a fake DNS: a name maps to its records or to an error.
type zone map[string]any

func (z zone) lookup(ctx context.Context, name string) ([]string, error) {
	switch a := z[strings.ToLower(name)].(type) {
	case string:
		return []string{a}, nil
	case []string:
		return a, nil
	case error:
		return nil, a
	case func(context.Context) error:
		return nil, a(ctx)
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func verify(t testing.TB, z zone, fields []field, body []byte, size int) []Result {
	t.Helper()
	v := NewVerifier(context.Background(), z.lookup, 0)
	feed(t, v, fields, body, size)
	return v.Close()
}

// sign signs fields and body with keys and returns the fields with the
// signatures prepended, as Postfix would pass them on.
func sign(t testing.TB, keys []Key, fields []field, body []byte) []field {
	t.Helper()
	s, err := NewSigner(keys)
	if err != nil {
		t.Fatal(err)
	}
	feed(t, s, fields, body, 65536)
	vals, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out []field
	for _, v := range vals {
		out = append(out, field{"DKIM-Signature", v})
	}
	return append(out, fields...)
}

func genKey(t testing.TB, algo, domain, selector string, z zone) Key {
	t.Helper()
	k, _, err := GenerateKey(algo)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := DNSRecord(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	z[selector+"._domainkey."+domain] = rec
	return Key{Domain: domain, Selector: selector, Signer: k}
}

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("../testdata/dkim/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rfc8463Zone reads the RFC 8463 Appendix A.2 key records.
func rfc8463Zone(t testing.TB) zone {
	z := zone{}
	for line := range strings.SplitSeq(strings.TrimSpace(readTestdata(t, "rfc8463.keys")), "\n") {
		name, rec, _ := strings.Cut(line, " ")
		z[name] = rec
	}
	return z
}

const plainMessage = `From: Alice <alice@example.org>
To: Bob <bob@example.net>
Subject:  spaced   subject
 folded on a second line
Date: Mon, 23 Nov 2026 10:00:00 +0000
Message-ID: <1@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello Bob,  
trailing white space above and an empty line below.

Bye.
`

func results(rs []Result) string {
	var b bytes.Buffer
	for _, r := range rs {
		b.WriteString(r.Result + "(" + r.Reason + ") ")
	}
	return b.String()
}
