package postfixtest

import (
	"slices"
	"strings"
	"testing"
)

// A dump as smtp-sink 3.7 writes it, with a message longer than a read buffer.
func TestParseDump(t *testing.T) {
	body := strings.Repeat("0123456789abcdef\n", 500)
	dump := "X-Client-Addr: 127.0.0.1\n" +
		"X-Client-Proto: ESMTP\n" +
		"X-Helo-Args: mx.postfixtest.test\n" +
		"X-Mail-Args: <a@b.test> SIZE=123 BODY=8BITMIME\n" +
		"X-Rcpt-Args: <c@d.test> ORCPT=rfc822;c@d.test\n" +
		"X-Rcpt-Args: <e@f.test>\n" +
		"Received: from mx.postfixtest.test ([127.0.0.1])\n" +
		"\tby sink (smtp-sink) with ESMTP id 198d9177;\n" +
		"\tMon, 23 Nov 2026 12:17:57 +0000 (UTC)\n" +
		"Subject: hi\n" +
		"\n" +
		body +
		"\n"
	m, err := parseDump([]byte(dump))
	if err != nil {
		t.Fatal(err)
	}
	if m.ClientAddr != "127.0.0.1" || m.Helo != "mx.postfixtest.test" || m.From != "a@b.test" ||
		m.MailArgs != "<a@b.test> SIZE=123 BODY=8BITMIME" {
		t.Errorf("envelope: %+v", m)
	}
	if !slices.Equal(m.To, []string{"c@d.test", "e@f.test"}) {
		t.Errorf("recipients %q", m.To)
	}
	crlfBody := strings.ReplaceAll(body, "\n", "\r\n")
	if string(m.Raw) != "Subject: hi\r\n\r\n"+crlfBody {
		t.Errorf("raw message differs: %q...", m.Raw[:40])
	}
	if m.Header.Get("Subject") != "hi" || string(m.Body()) != crlfBody {
		t.Errorf("header %v, body %d bytes", m.Header, len(m.Body()))
	}

	if _, err := parseDump([]byte("Subject: not a dump\n\nbody\n")); err == nil {
		t.Error("parsed a file that is no smtp-sink dump")
	}
}

func TestEnhancedCode(t *testing.T) {
	for text, want := range map[string]string{
		"5.7.10 Encryption needed": "5.7.10",
		"2.0.0 Ok: queued as ABC":  "2.0.0",
		"4.7.1 <x@y>: greylisted":  "4.7.1",
		"2.1.5":                    "2.1.5",
		"mx.test ESMTP":            "",
		"1.2.3 not a class":        "",
		"5.7.1000 too long":        "",
		"5.x.1 letters":            "",
		"Ok\n2.0.0 later line":     "",
	} {
		if got := enhancedCode(text); got != want {
			t.Errorf("enhancedCode(%q) = %q, want %q", text, got, want)
		}
	}
}
