package dkim

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// canonBody runs body through BodyCanon in chunks of size bytes.
func canonBody(relaxed bool, body string, size int, limit int64) string {
	var out bytes.Buffer
	c := NewBodyCanon(relaxed, &out, limit)
	for b := []byte(body); len(b) > 0; {
		n := min(size, len(b))
		c.Write(b[:n])
		b = b[n:]
	}
	c.Close()
	return out.String()
}

func TestBodyCanon(t *testing.T) {
	for _, tc := range []struct {
		name, body, simple, relaxed string
	}{
		// RFC 6376 3.4.5's example.
		{"rfc6376 3.4.5", " C \r\nD \t E\r\n\r\n\r\n", " C \r\nD \t E\r\n", " C\r\nD E\r\n"},
		{"empty", "", "\r\n", ""},
		{"only empty lines", "\r\n\r\n\r\n", "\r\n", ""},
		{"no final CRLF", "abc", "abc\r\n", "abc\r\n"},
		{"inner empty lines kept", "a\r\n\r\n\r\nb\r\n", "a\r\n\r\n\r\nb\r\n", "a\r\n\r\n\r\nb\r\n"},
		{"white space lines", "a\r\n \t\r\n\r\n", "a\r\n \t\r\n", "a\r\n"},
		{"white space line inside", "a\r\n  \r\nb\r\n", "a\r\n  \r\nb\r\n", "a\r\n\r\nb\r\n"},
		{"bare CR is content", "a\rb\r\n", "a\rb\r\n", "a\rb\r\n"},
		{"CR before CRLF", "a\r\r\n", "a\r\r\n", "a\r\r\n"},
	} {
		for size := 1; size <= 8; size++ {
			if got := canonBody(false, tc.body, size, -1); got != tc.simple {
				t.Errorf("%s simple (chunks of %d): %q, want %q", tc.name, size, got, tc.simple)
			}
			if got := canonBody(true, tc.body, size, -1); got != tc.relaxed {
				t.Errorf("%s relaxed (chunks of %d): %q, want %q", tc.name, size, got, tc.relaxed)
			}
		}
	}
	if got := canonBody(true, "abc\r\ndef\r\n", 3, 4); got != "abc\r" {
		t.Errorf("l=4: %q", got)
	}
}

// The body hash of RFC 8463's example, relaxed, from our canonicalizer.
func TestBodyCanonRFC8463(t *testing.T) {
	_, body := postfixFields(t, readTestdata(t, "rfc8463.eml"))
	for size := 1; size < 20; size++ {
		h := sha256.New()
		c := NewBodyCanon(true, h, -1)
		for b := body; len(b) > 0; {
			n := min(size, len(b))
			c.Write(b[:n])
			b = b[n:]
		}
		c.Close()
		if got := base64.StdEncoding.EncodeToString(h.Sum(nil)); got != "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=" {
			t.Fatalf("chunks of %d: bh=%s", size, got)
		}
	}
}

// A million empty lines followed by text are counted, not held.
func TestBodyCanonBlankRunMemory(t *testing.T) {
	var n int64
	c := NewBodyCanon(true, writerFunc(func(p []byte) { n += int64(len(p)) }), -1)
	blank := bytes.Repeat([]byte("\r\n"), 1<<16)
	for range 16 {
		c.Write(blank)
	}
	if len(c.buf) > 4096 || cap(c.buf) > 8192 {
		t.Fatalf("buffer grew to %d", cap(c.buf))
	}
	c.Write([]byte("x\r\n"))
	c.Close()
	if want := int64(16<<16)*2 + 3; n != want {
		t.Fatalf("%d canonical bytes, want %d", n, want)
	}
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

func TestCanonHeader(t *testing.T) {
	for _, tc := range []struct{ line, relaxed string }{
		{"A: X\r\n", "a:X\r\n"},
		{"B : Y\t\r\n\tZ  \r\n", "b:Y Z\r\n"}, // RFC 6376 3.4.5
		{"Subject:\r\n", "subject:\r\n"},
		{"X:  a  \t b \r\n", "x:a b\r\n"},
	} {
		if got := string(CanonHeader(true, []byte(tc.line))); got != tc.relaxed {
			t.Errorf("%q: %q, want %q", tc.line, got, tc.relaxed)
		}
		if got := string(CanonHeader(false, []byte(tc.line))); got != tc.line {
			t.Errorf("simple %q: %q", tc.line, got)
		}
	}
}

func TestStripSignature(t *testing.T) {
	for in, want := range map[string]string{
		" v=1; b=abc\n def; bh=xyz": " v=1; b=; bh=xyz",
		" i=1; bh=xyz;\n\tb=abc":    " i=1; bh=xyz;\n\tb=",
		" b = abc ; d=x":            " b =; d=x",
		" a=b=c; b=1":               " a=b=c; b=",
		" no tags":                  " no tags",
	} {
		if got := StripSignature(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestParseKeyRecord(t *testing.T) {
	z := rfc8463Zone(t)
	for name, rec := range z {
		if _, err := ParseKeyRecord(rec.(string)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for rec, want := range map[string]string{
		"v=DKIM1; k=rsa; p=":          "revoked",
		"v=DKIM2; p=AAAA":             "not DKIM1",
		"v=DKIM1; k=dsa; p=AAAA":      "unknown key type",
		"v=DKIM1; k=rsa; p=AAAA":      "not an RSA",
		"v=DKIM1; k=ed25519; p=AAAA":  "ed25519 key of 3 bytes",
		"v=DKIM1; k=rsa; s=tls; p=AA": "excludes email",
		"v=DKIM1; k=rsa":              "no p=",
		"v=DKIM1; p=!!":               "not base64",
	} {
		_, err := ParseKeyRecord(rec)
		if err == nil || !strings.Contains(err.Error(), want) && !(want == "revoked" && errors.Is(err, ErrKeyRevoked)) {
			t.Errorf("%q: %v, want %q", rec, err, want)
		}
	}
}
