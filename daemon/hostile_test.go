package daemon

// The hostile-input catalogue (docs/HOSTILE.md): what spamgate does with
// input built to crash it, inject header fields, split its log, or make it
// spend unbounded time or memory. Each test names its row of the table.

import (
	"crypto/ed25519"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"spamgate/dkim"
	"spamgate/internal/miltertest"
)

// hostileCleanValue fails the test when a header value we insert or change
// carries a CR, an LF or a NUL other than the folding authres emits
// ("\r\n\t"; Postfix-style "\n\t" is allowed too).
func hostileCleanValue(t *testing.T, what, v string) {
	t.Helper()
	rest := strings.ReplaceAll(strings.ReplaceAll(v, "\r\n\t", ""), "\n\t", "")
	if strings.ContainsAny(rest, "\r\n\x00") {
		t.Errorf("%s: header value %q holds a line break or NUL outside folding", what, v)
	}
	// Every folded line must continue the field: a line break followed by
	// anything but white space would start a new header field.
	for i, line := range strings.Split(strings.ReplaceAll(v, "\r\n", "\n"), "\n") {
		if i > 0 && (line == "" || (line[0] != '\t' && line[0] != ' ')) {
			t.Errorf("%s: header value %q: line %d starts a new field", what, v, i)
		}
	}
}

// hostileCleanMods checks every header edit of res.
func hostileCleanMods(t *testing.T, what string, res *miltertest.Result) {
	t.Helper()
	for _, m := range res.Mods {
		if strings.ContainsAny(m.HeaderName, "\r\n\x00: ") {
			t.Errorf("%s: header name %q", what, m.HeaderName)
		}
		hostileCleanValue(t, what+" "+m.HeaderName, m.HeaderValue)
	}
}

// hostileCleanLog fails when a log record was split: slog's text handler
// writes one record per line, each starting with its time.
func hostileCleanLog(t *testing.T, log string) {
	t.Helper()
	for i, line := range strings.Split(strings.TrimRight(log, "\n"), "\n") {
		if !strings.HasPrefix(line, "time=") {
			t.Errorf("log line %d is not a record of its own (split record?): %q", i+1, line)
		}
	}
}

// hostileMods returns the 1-based indexes of the deleted fields called name,
// in the order they were sent.
func hostileDeleted(res *miltertest.Result, name string) []uint32 {
	var out []uint32
	for _, m := range res.Mods {
		if m.Code == gomilter.ActChangeHeader && strings.EqualFold(m.HeaderName, name) && m.HeaderValue == "" {
			out = append(out, m.HeaderIndex)
		}
	}
	return out
}

// hostileSession drives one session by hand, so that macros, HELO and
// the envelope can carry bytes miltertest.Tx would not send.
type hostileSession struct {
	macrosConn []string // CodeConn macros
	host, ip   string   // CONNECT; family from ip
	helo       string
	macrosMail []string
	from       string // as sent, with <>
	rcpts      []string
	macrosRcpt []string
	headers    [][2]string
}

func (h hostileSession) run(t *testing.T, addr string) (*miltertest.Result, error) {
	t.Helper()
	s, err := miltertest.Dial(addr)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := s.Macros(gomilter.CodeConn, h.macrosConn...); err != nil {
		return nil, err
	}
	family := gomilter.FamilyInet
	if strings.Contains(h.ip, ":") {
		family = gomilter.FamilyInet6
	}
	if _, err := s.Conn(h.host, family, 25, h.ip); err != nil {
		return nil, fmt.Errorf("CONNECT: %w", err)
	}
	if _, err := s.Helo(h.helo); err != nil {
		return nil, fmt.Errorf("HELO: %w", err)
	}
	if err := s.Macros(gomilter.CodeMail, h.macrosMail...); err != nil {
		return nil, err
	}
	if _, err := s.Mail(h.from, nil); err != nil {
		return nil, fmt.Errorf("MAIL: %w", err)
	}
	res := &miltertest.Result{Rcpt: map[string]*gomilter.Action{}}
	accepted := 0
	for _, rc := range h.rcpts {
		if err := s.Macros(gomilter.CodeRcpt, h.macrosRcpt...); err != nil {
			return nil, err
		}
		act, err := s.Rcpt(rc, nil)
		if err != nil {
			return nil, fmt.Errorf("RCPT: %w", err)
		}
		res.Rcpt[rc] = act
		if act.Code == gomilter.ActContinue {
			accepted++
		}
	}
	if accepted == 0 {
		return res, s.Abort()
	}
	for _, f := range h.headers {
		if _, err := s.HeaderField(f[0], f[1]); err != nil {
			return nil, fmt.Errorf("header: %w", err)
		}
	}
	if _, err := s.HeaderEnd(); err != nil {
		return nil, err
	}
	mods, act, err := s.BodyReadFrom(strings.NewReader("hello\r\n"))
	if err != nil {
		return nil, err
	}
	res.Mods, res.Final = mods, act
	return res, nil
}

// TestHostileControlCharacters: NUL, CR and LF in the envelope, the HELO
// name and the macros never crash a session, never reach a header value
// we insert, and never split a log record.
func TestHostileControlCharacters(t *testing.T) {
	r := startRig(t, "[spf]\nreject_fail = true\n")
	// A failing SPF record whose explanation quotes the sender (%{s}): the
	// SMTP reply then carries text from outside.
	r.zone.AddText("exp.test. 300 IN MX 10 mx.good.test.")
	r.zone.AddText("exp.test. 300 IN TXT \"v=spf1 -all exp=why.exp.test\"")
	r.zone.AddText("why.exp.test. 300 IN TXT \"refused for %{s}\"")

	base := hostileSession{
		macrosConn: []string{"j", "mx.test", "{client_addr}", "192.0.2.10", "{client_name}", "unknown"},
		host:       "unknown", ip: "192.0.2.10", helo: "helo.good.test",
		macrosMail: []string{"i", "", "{auth_authen}", ""},
		from:       "<user@good.test>",
		rcpts:      []string{"<alice@example.net>"},
		macrosRcpt: []string{"i", "QID1"},
		headers:    [][2]string{{"From", " <user@good.test>"}, {"Subject", " x"}},
	}
	const inject = "\r\nX-Injected: yes\r\n"
	tests := []struct {
		name  string
		edit  func(h *hostileSession)
		reply string // every recipient's reply, "" = accepted
		ar    string // in Authentication-Results; "" = none expected (outbound or refused)
	}{
		{"CRLF in sender local part", func(h *hostileSession) { h.from = "<us" + inject + "er@good.test>" },
			"", `spf=pass smtp.mailfrom="usX-Injected: yeser@good.test"`},
		{"CRLF in sender domain", func(h *hostileSession) { h.from = "<user@good.test" + inject + ">" },
			"550 5.1.8 Sender address rejected: Domain not found", ""},
		// go-milter reads the address up to the NUL.
		{"NUL in sender", func(h *hostileSession) { h.from = "<user\x00@evil.test" + inject + ">" },
			"", "spf=none smtp.mailfrom=user;"},
		{"CRLF in recipient", func(h *hostileSession) { h.rcpts = []string{"<alice" + inject + "@example.net>"} },
			"", "spf=pass smtp.mailfrom=user@good.test"},
		{"NUL in recipient", func(h *hostileSession) { h.rcpts = []string{"<alice\x00" + inject + "@example.net>"} },
			"", "spf=pass smtp.mailfrom=user@good.test"},
		{"CRLF in HELO, null sender", func(h *hostileSession) { h.helo = "helo.good.test" + inject; h.from = "<>" },
			"", `spf=none smtp.helo="helo.good.testX-Injected: yes"`},
		{"NUL in HELO, null sender", func(h *hostileSession) { h.helo = "helo.good\x00.test" + inject; h.from = "<>" },
			"", `spf=none smtp.helo="helo.good.testX-Injected: yes"`},
		{"bare LF and NUL everywhere in the envelope", func(h *hostileSession) {
			h.helo, h.from, h.rcpts = "a\nb\x00c", "<\n\x00@\n>", []string{"<\n@\x00>"}
		}, "", `spf=none smtp.mailfrom="";`},
		{"CRLF in j (SPF %{r})", func(h *hostileSession) { h.macrosConn[1] = "mx.test" + inject },
			"", "spf=pass smtp.mailfrom=user@good.test"},
		// The address of the CONNECT packet wins over the macro.
		{"CRLF in client_addr and client name", func(h *hostileSession) {
			h.macrosConn[3], h.macrosConn[5], h.host = "192.0.2.10"+inject, "evil"+inject, "evil"+inject
		}, "", "iprev=pass policy.iprev=192.0.2.10 (helo.good.test)"},
		{"CRLF in queue id", func(h *hostileSession) { h.macrosMail[1] = "Q" + inject; h.macrosRcpt[1] = "Q\x00" + inject },
			"", "spf=pass smtp.mailfrom=user@good.test"},
		// Any SASL login makes the mail outbound: no checks, no header.
		{"CRLF in auth_authen (outbound)", func(h *hostileSession) { h.macrosMail[3] = "alice" + inject }, "", ""},
		// Reply text from outside loses its control characters (checks.Reply.Milter).
		{"CRLF from an SPF explanation into the reply", func(h *hostileSession) { h.from = "<x" + inject + "@exp.test>" },
			"550 5.7.23 SPF validation failed: refused for x  X-Injected: yes  @exp.test", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := base
			h.macrosConn = append([]string(nil), base.macrosConn...)
			h.macrosMail = append([]string(nil), base.macrosMail...)
			h.macrosRcpt = append([]string(nil), base.macrosRcpt...)
			tt.edit(&h)
			res, err := h.run(t, r.addr)
			if err != nil {
				t.Fatalf("session failed: %v", err)
			}
			if len(res.Rcpt) != len(h.rcpts) {
				t.Fatalf("recipients answered: %d", len(res.Rcpt))
			}
			for rc, a := range res.Rcpt {
				got := ""
				if a.Code == gomilter.ActReplyCode {
					got = fmt.Sprintf("%d %s", a.SMTPCode, a.SMTPText)
				} else if a.Code != gomilter.ActContinue {
					t.Errorf("RCPT %q: action %c", rc, a.Code)
				}
				if got != tt.reply {
					t.Errorf("RCPT %q: got %q, want %q", rc, got, tt.reply)
				}
			}
			hostileCleanMods(t, tt.name, res)
			ar := res.Header("Authentication-Results")
			switch {
			case tt.ar == "" && len(ar) != 0:
				t.Errorf("unexpected Authentication-Results %q", ar)
			case tt.ar != "" && (len(ar) != 1 || !strings.Contains(ar[0], tt.ar)):
				t.Errorf("Authentication-Results %q, want one containing %q", ar, tt.ar)
			}
		})
	}
	// The daemon still serves normal mail.
	res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test"})
	if ar := res.Header("Authentication-Results"); len(ar) != 1 || !strings.Contains(ar[0], "spf=pass") {
		t.Errorf("after the hostile sessions: %q", ar)
	}
	hostileCleanLog(t, r.logs.String())
}

// TestHostileManyRecipients: 10,000 recipients in one transaction are each
// decided, in bounded time and memory (the session keeps counters, not a
// list of recipients).
func TestHostileManyRecipients(t *testing.T) {
	r := startRig(t, "")
	const n = 10000
	rcpts := make([]string, n)
	for i := range rcpts {
		rcpts[i] = fmt.Sprintf("user%d@example.net", i)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: rcpts})
	took := time.Since(start)
	if took > 20*time.Second {
		t.Errorf("10,000 recipients took %v", took)
	}
	if len(res.Rcpt) != n {
		t.Fatalf("%d recipients answered, want %d", len(res.Rcpt), n)
	}
	for rc, a := range res.Rcpt {
		if a.Code != gomilter.ActContinue {
			t.Fatalf("RCPT %s: %+v", rc, a)
		}
	}
	if ar := res.Header("Authentication-Results"); len(ar) != 1 || !strings.Contains(ar[0], "spf=pass") {
		t.Errorf("Authentication-Results %q", ar)
	}
	if !strings.Contains(r.logs.String(), "accepted=10000") {
		t.Errorf("the message summary does not count 10000 accepted recipients")
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	// The test's own log copy of 10,000 debug lines is in the heap too.
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 64<<20 {
		t.Errorf("heap grew by %d MiB", grown>>20)
	}
	t.Logf("10,000 recipients in %v", took)
}

// hostileSign signs a message with key and returns the DKIM-Signature value.
func hostileSign(t *testing.T, key dkim.Key, headers [][2]string, body string) string {
	t.Helper()
	sg, err := dkim.NewSigner([]dkim.Key{key})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		sg.Header(h[0], h[1])
	}
	sg.EndHeaders()
	if err := sg.Body([]byte(body)); err != nil {
		t.Fatal(err)
	}
	sigs, err := sg.Close()
	if err != nil || len(sigs) != 1 {
		t.Fatalf("sign: %q, %v", sigs, err)
	}
	return sigs[0]
}

// hostileKey makes an ed25519 key for domain and selector and publishes
// its record, split into character-strings of size bytes (0: one string).
func hostileKey(t *testing.T, r *rig, domain, selector string, size int) dkim.Key {
	t.Helper()
	signer, _, err := dkim.GenerateKey("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	record, err := dkim.DNSRecord(signer.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	var strs []string
	for size > 0 && len(record) > size {
		strs, record = append(strs, record[:size]), record[size:]
	}
	strs = append(strs, record)
	if err := r.zone.AddText(fmt.Sprintf("%s._domainkey.%s. 300 IN TXT \"%s\"", selector, domain, strings.Join(strs, `" "`))); err != nil {
		t.Fatal(err)
	}
	return dkim.Key{Domain: domain, Selector: selector, Signer: signer}
}

// TestHostileManySignatures: 100 DKIM-Signature fields. Only the first
// max_signatures (default 5) in header order are verified and listed in
// Authentication-Results; the rest are noted in the log.
func TestHostileManySignatures(t *testing.T) {
	r := startRig(t, "")
	if got := r.d.Config().DKIM.MaxSignatures; got != 5 || dkim.DefaultMaxSignatures != 5 {
		t.Fatalf("default max_signatures %d", got)
	}
	key := hostileKey(t, r, "good.test", "sel", 0)
	headers := [][2]string{{"From", " <alice@good.test>"}, {"To", " bob@example.net"}, {"Subject", " many signatures"}}
	body := "Hello.\r\n"
	valid := hostileSign(t, key, headers, body)
	var fields [][2]string
	for i := range 100 {
		switch {
		case i == 3 || i == 50: // valid ones: the 4th is verified, the 51st is not
			fields = append(fields, [2]string{"DKIM-Signature", valid})
		case i%3 == 0: // no such key
			fields = append(fields, [2]string{"DKIM-Signature", fmt.Sprintf(
				" v=1; a=rsa-sha256; d=nokey%d.test; s=s; h=from; bh=AAAA; b=AAAA%d", i, i)})
		case i%3 == 1: // garbage
			fields = append(fields, [2]string{"DKIM-Signature", fmt.Sprintf(" garbage %d ;;; ===", i)})
		default: // a real key, a wrong signature
			fields = append(fields, [2]string{"DKIM-Signature", strings.Replace(valid, "b=", "b=AAAA", 1)})
		}
	}
	start := time.Now()
	res := r.run(t, miltertest.Tx{ClientIP: "198.51.100.7", From: "alice@good.test", Rcpts: []string{"bob@example.net"},
		Headers: append(fields, headers...), Body: body})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("100 signatures took %v", took)
	}
	ar := res.Header("Authentication-Results")
	if len(ar) != 1 {
		t.Fatalf("Authentication-Results %q", ar)
	}
	if n := strings.Count(ar[0], "dkim="); n != 5 {
		t.Errorf("%d dkim entries, want 5: %q", n, ar[0])
	}
	if n := strings.Count(ar[0], "dkim=pass"); n != 1 || !strings.Contains(ar[0], "dmarc=pass") {
		t.Errorf("want the one verified valid signature to pass and DMARC with it: %q", ar[0])
	}
	if len(ar[0]) > 2000 {
		t.Errorf("Authentication-Results of %d bytes", len(ar[0]))
	}
	hostileCleanMods(t, "100 signatures", res)
	if !strings.Contains(r.logs.String(), "dkim signatures over max_signatures not verified") ||
		!strings.Contains(r.logs.String(), "skipped=95") {
		t.Errorf("the 95 signatures over the cap are not noted in the log")
	}
}

// TestHostileSPFLoops: include loops and chains past the 10-lookup limit
// are permerror, quickly, through the real resolver.
func TestHostileSPFLoops(t *testing.T) {
	r := startRig(t, "")
	for _, rr := range []string{
		"loopa.test. 300 IN MX 10 mx.good.test.",
		`loopa.test. 300 IN TXT "v=spf1 include:loopb.test -all"`,
		`loopb.test. 300 IN TXT "v=spf1 include:loopa.test -all"`,
		"self.test. 300 IN MX 10 mx.good.test.",
		`self.test. 300 IN TXT "v=spf1 redirect=self.test"`,
		"chain0.test. 300 IN MX 10 mx.good.test.",
	} {
		if err := r.zone.AddText(rr); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 12 {
		r.zone.AddText(fmt.Sprintf(`chain%d.test. 300 IN TXT "v=spf1 include:chain%d.test -all"`, i, i+1))
	}
	r.zone.AddText(`chain12.test. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"`)
	for _, domain := range []string{"loopa.test", "self.test", "chain0.test"} {
		start := time.Now()
		res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@" + domain, Rcpts: []string{"a@example.net"}})
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("%s: took %v", domain, took)
		}
		if ar := res.Header("Authentication-Results"); len(ar) != 1 || !strings.Contains(ar[0], "spf=permerror smtp.mailfrom=user@"+domain) {
			t.Errorf("%s: Authentication-Results %q", domain, ar)
		}
	}
	if strings.Count(r.logs.String(), "spf=permerror") < 3 {
		t.Errorf("the message summaries do not say spf=permerror")
	}
}

// TestHostileManyTXTStrings: TXT answers with hundreds of character-strings
// or records, fetched over TCP after a truncated UDP answer.
func TestHostileManyTXTStrings(t *testing.T) {
	r := startRig(t, "")
	// An SPF record split into 300 strings: one record, its strings
	// concatenated (RFC 7208 3.3); the client is in its last piece.
	var parts []string
	parts = append(parts, "v=spf1 ")
	for i := range 298 {
		parts = append(parts, fmt.Sprintf("ip4:198.51.%d.%d ", i/250, i%250))
	}
	parts = append(parts, "ip4:192.0.2.10 -all")
	r.zone.AddText("split.test. 300 IN MX 10 mx.good.test.")
	if err := r.zone.AddText(`split.test. 300 IN TXT "` + strings.Join(parts, `" "`) + `"`); err != nil {
		t.Fatal(err)
	}
	// A DMARC name with 300 TXT records, one of them DMARC: the others are
	// discarded (RFC 9989), the policy applies.
	r.zone.AddText("dmarc300.test. 300 IN MX 10 mx.good.test.")
	r.zone.AddText(`_dmarc.dmarc300.test. 300 IN TXT "v=DMARC1; p=reject"`)
	for i := range 299 {
		r.zone.AddText(fmt.Sprintf(`_dmarc.dmarc300.test. 300 IN TXT "junk record %d"`, i))
	}
	// Two DMARC records among the 300: no policy (RFC 9989: not exactly one).
	r.zone.AddText("dmarc2.test. 300 IN MX 10 mx.good.test.")
	r.zone.AddText(`_dmarc.dmarc2.test. 300 IN TXT "v=DMARC1; p=reject"`)
	r.zone.AddText(`_dmarc.dmarc2.test. 300 IN TXT "v=DMARC1; p=none"`)
	for i := range 298 {
		r.zone.AddText(fmt.Sprintf(`_dmarc.dmarc2.test. 300 IN TXT "junk record %d"`, i))
	}
	// A DKIM key record of one-byte strings.
	key := hostileKey(t, r, "many.test", "sel", 1)
	r.zone.AddText("many.test. 300 IN MX 10 mx.good.test.")

	t.Run("SPF record of 300 strings", func(t *testing.T) {
		res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@split.test", Rcpts: []string{"a@example.net"}})
		if ar := res.Header("Authentication-Results"); len(ar) != 1 || !strings.Contains(ar[0], "spf=pass smtp.mailfrom=user@split.test") {
			t.Errorf("Authentication-Results %q", ar)
		}
	})
	t.Run("DMARC name with 300 records, one DMARC", func(t *testing.T) {
		res := r.run(t, miltertest.Tx{ClientIP: "198.51.100.7", From: "user@good.test", Rcpts: []string{"a@example.net"},
			Headers: [][2]string{{"From", " <ceo@dmarc300.test>"}}, Body: "x\r\n"})
		if res.Final == nil || res.Final.SMTPCode != 550 {
			t.Errorf("end of message %+v, want the DMARC reject", res.Final)
		}
	})
	t.Run("DMARC name with 300 records, two DMARC", func(t *testing.T) {
		res := r.run(t, miltertest.Tx{ClientIP: "198.51.100.7", From: "user@good.test", Rcpts: []string{"a@example.net"},
			Headers: [][2]string{{"From", " <ceo@dmarc2.test>"}}, Body: "x\r\n"})
		if res.Final == nil || res.Final.Code != gomilter.ActContinue {
			t.Fatalf("end of message %+v", res.Final)
		}
		if ar := res.Header("Authentication-Results"); len(ar) != 1 || !strings.Contains(ar[0], "dmarc=none header.from=dmarc2.test") {
			t.Errorf("Authentication-Results %q", ar)
		}
	})
	t.Run("DKIM key record of one-byte strings", func(t *testing.T) {
		headers := [][2]string{{"From", " <alice@many.test>"}, {"Subject", " split key"}}
		sig := hostileSign(t, key, headers, "x\r\n")
		res := r.run(t, miltertest.Tx{ClientIP: "198.51.100.7", From: "alice@many.test", Rcpts: []string{"a@example.net"},
			Headers: append([][2]string{{"DKIM-Signature", sig}}, headers...), Body: "x\r\n"})
		if ar := res.Header("Authentication-Results"); len(ar) != 1 || !strings.Contains(ar[0], "dkim=pass header.d=many.test header.s=sel") {
			t.Errorf("Authentication-Results %q", ar)
		}
	})
}

// TestHostileSMTPUTF8: UTF-8 local parts and U-label domains in the
// envelope and in From.
func TestHostileSMTPUTF8(t *testing.T) {
	r := startRigWith(t, greylistTable("always", "memory", "", ""), "")
	// bücher.test in A-label form, as it is published.
	for _, rr := range []string{
		"xn--bcher-kva.test. 300 IN MX 10 mx.good.test.",
		`xn--bcher-kva.test. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"`,
		`_dmarc.xn--bcher-kva.test. 300 IN TXT "v=DMARC1; p=reject"`,
	} {
		if err := r.zone.AddText(rr); err != nil {
			t.Fatal(err)
		}
	}
	tx := miltertest.Tx{ClientIP: "192.0.2.10", From: "jürgen@bücher.test", Rcpts: []string{"zoë@exämple.net"},
		Headers: [][2]string{{"From", " Jürgen <jürgen@bücher.test>"}, {"Subject", " grüße"}}, Body: "x\r\n"}
	res := r.run(t, tx)
	if got := res.Refused("zoë@exämple.net"); got != replyGreylisted {
		t.Fatalf("first attempt: %q, want greylisted", got)
	}
	time.Sleep(glWait)
	res = r.run(t, tx)
	if got := res.Refused("zoë@exämple.net"); got != "" {
		t.Fatalf("retry after the delay: %q", got)
	}
	// SPF and DMARC look the domain up as its A-labels (RFC 8616); the
	// properties keep the UTF-8 form, quoted.
	ar := res.Header("Authentication-Results")
	if len(ar) != 1 || !strings.Contains(ar[0], `spf=pass smtp.mailfrom="jürgen@bücher.test"`) ||
		!strings.Contains(ar[0], `dmarc=pass header.from="bücher.test" policy.dmarc=reject`) {
		t.Errorf("Authentication-Results %q", ar)
	}
	if res.Final == nil || res.Final.Code != gomilter.ActContinue {
		t.Errorf("end of message %+v", res.Final)
	}
	hostileCleanMods(t, "SMTPUTF8", res)
	// Bytes that are not UTF-8, and a domain IDNA refuses: the sender
	// domain does not exist.
	for _, from := range []string{"\xff\xfe@\xff.test", "x@-bad-ü-.test"} {
		bad := tx
		bad.From, bad.Headers = from, [][2]string{{"From", " <" + from + ">"}}
		res := r.run(t, bad)
		if got := res.Refused("zoë@exämple.net"); got != "550 5.1.8 Sender address rejected: Domain not found" {
			t.Errorf("sender %q: %q", from, got)
		}
	}
	hostileCleanLog(t, r.logs.String())
}

// TestHostileForeignAuthenticationResults: malformed Authentication-Results
// from outside are foreign unless they name our authserv-id: kept.
func TestHostileForeignAuthenticationResults(t *testing.T) {
	r := startRig(t, "")
	long := " other.example; " + strings.Repeat("spf=pass smtp.mailfrom=a@b.example ", 100<<10/35)
	deep := " " + strings.Repeat("(", 50<<10) + "mx.test; spf=pass"
	values := []struct{ name, value string }{
		{"garbage", " \x01\x7f;;;==@@ ((( \"\" mx.test"},
		{"empty", ""},
		{"blank", " \t"},
		{"only a comment", " (mx.test; spf=pass)"},
		{"unterminated comment", " (mx.test; spf=pass"},
		{"unterminated quoted id", ` "mx.test; spf=pass`},
		{"no authserv-id", " ; spf=pass"},
		{"id with a trailing dot", " mx.test.; spf=pass"},
		{"longer id", " mx.testing; spf=pass"},
		{"subdomain id", " a.mx.test; spf=pass"},
		{"100 KB", long},
		{"50 KB of open parentheses", deep},
	}
	var headers [][2]string
	for _, v := range values {
		headers = append(headers, [2]string{"Authentication-Results", v.value})
	}
	headers = append(headers, [2]string{"From", " <user@good.test>"})
	start := time.Now()
	res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"a@example.net"}, Headers: headers})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v", took)
	}
	if del := hostileDeleted(res, "Authentication-Results"); len(del) != 0 {
		t.Errorf("foreign fields deleted: indexes %v (of %d)", del, len(values))
	}
	if ar := res.Header("Authentication-Results"); len(ar) != 1 || !strings.HasPrefix(ar[0], " mx.test;") {
		t.Errorf("our Authentication-Results %q", ar)
	}
	hostileCleanMods(t, "foreign A-R", res)
}

// TestHostileForgedAuthenticationResults: fields that name our authserv-id
// in any spelling RFC 8601 allows are deleted, by their 1-based index
// among the fields of that name (last first); foreign ones stay.
func TestHostileForgedAuthenticationResults(t *testing.T) {
	r := startRig(t, "")
	fields := []struct {
		name, value string
		ours        bool
	}{
		{"Authentication-Results", " other.example; spf=fail", false},
		{"Authentication-Results", " MX.Test; spf=pass smtp.mailfrom=forged@good.test", true},
		{"Subject", " mx.test; not an A-R", false},
		{"Authentication-Results", " (x) mx.test; dkim=pass", true},
		{"Authentication-Results", " mx.test 1; spf=pass", true},
		{"Authentication-Results", " foreign.example; dkim=pass (mx.test)", false},
		{"Authentication-Results", "\n\tmx.test;\n\tspf=pass", true},
		{"authentication-results", " (a comment (nested) \\) on\n two lines)\n mx.test (again) ; none", true},
		{"Authentication-Results", " mx.test.example; spf=pass", false},
		{"AUTHENTICATION-RESULTS", ` "mx.test"; spf=pass`, true},
		{"Authentication-Results", " mx.tést; spf=pass", false},
		{"X-Authentication-Results", " mx.test; spf=pass", false},
		{"Authentication-Results", " mx.test", true},
		{"Authentication-Results", " other.example 1; none", false},
	}
	var headers [][2]string
	var want []uint32
	n := uint32(0)
	for _, f := range fields {
		headers = append(headers, [2]string{f.name, f.value})
		if strings.EqualFold(f.name, "Authentication-Results") {
			n++
			if f.ours {
				want = append([]uint32{n}, want...) // last first
			}
		}
	}
	headers = append(headers, [2]string{"From", " <user@good.test>"})
	res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"a@example.net"}, Headers: headers})
	if got := hostileDeleted(res, "Authentication-Results"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("deleted indexes %v, want %v", got, want)
	}
	if got := hostileDeleted(res, "X-Authentication-Results"); len(got) != 0 {
		t.Errorf("X-Authentication-Results deleted: %v", got)
	}
	// Deletions come before any insert, so that the indexes count the
	// fields as they came.
	inserted := false
	for _, m := range res.Mods {
		switch m.Code {
		case gomilter.ActInsertHeader:
			inserted = true
		case gomilter.ActChangeHeader:
			if inserted {
				t.Errorf("a deletion after an insert: %+v", res.Mods)
			}
		}
	}
	if ar := res.Header("Authentication-Results"); len(ar) != 1 {
		t.Errorf("our Authentication-Results %q", ar)
	}
	if !strings.Contains(r.logs.String(), "removed forged Authentication-Results") {
		t.Errorf("no log of the removal")
	}
}
