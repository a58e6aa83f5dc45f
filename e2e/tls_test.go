package e2e

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spamgate/internal/postfixtest"
)

const tlsPolicy = `
[policy]
tables = [%q]
watch_interval = "100ms"

[[policy.rule]]
recipient = "alice@tls.example"
require_tls = true

[[policy.rule]]
recipient = "tls13.example"
require_tls = true
min_tls_version = "TLSv1.3"
`

// The encrypted-delivery policy through a real Postfix with STARTTLS: only
// the recipient that requires TLS is refused in cleartext, and the sender
// learns why from the reply.
func TestRequireTLSThroughPostfix(t *testing.T) {
	table := filepath.Join(t.TempDir(), "tls-customers")
	os.WriteFile(table, []byte("# written by the hosting panel\n"), 0o644)
	w := setUp(t, "", fmt.Sprintf(tlsPolicy, table))
	mail := func(to ...string) postfixtest.Mail {
		return postfixtest.Mail{Helo: "client.loop.test", From: "user@loop.test", To: to,
			Data: []byte("From: <user@loop.test>\r\nSubject: tls\r\n\r\nconfidential\r\n")}
	}
	refusal := func(rcpt, why string) string {
		return fmt.Sprintf("550 5.7.10 Encryption needed: <%s> %s", rcpt, why)
	}
	delivered := 0
	expectDelivered := func(t *testing.T, tr postfixtest.Transcript, to string) {
		t.Helper()
		if tr.Message.Code != 250 {
			t.Fatalf("not accepted:\n%s", tr)
		}
		delivered++
		msgs := w.sink.WaitMessages(t, delivered, 20*time.Second)
		if got := msgs[len(msgs)-1].To; len(got) != 1 || got[0] != to {
			t.Errorf("sink got recipients %v, want [%s]", got, to)
		}
	}

	t.Run("cleartext to a TLS-only recipient is refused", func(t *testing.T) {
		tr := w.send(t, mail("alice@tls.example"))
		if got, want := tr.Rcpt[0].String(), refusal("alice@tls.example", "accepts mail only over TLS"); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("the same over TLS is delivered", func(t *testing.T) {
		m := mail("alice@tls.example")
		m.StartTLS = true
		tr := w.send(t, m)
		expectDelivered(t, tr, "alice@tls.example")
		if !strings.Contains(w.log.String(), "tls=TLSv1.3") {
			t.Error("spamgate did not see the session's TLS version")
		}
	})
	t.Run("cleartext with two recipients: one refused, one delivered", func(t *testing.T) {
		tr := w.send(t, mail("alice@tls.example", "bob@example.net"))
		if got := tr.Rcpt[0].String(); !strings.HasPrefix(got, "550 5.7.10") {
			t.Errorf("alice: %q", got)
		}
		if tr.Rcpt[1].Code != 250 {
			t.Errorf("bob: %v", tr.Rcpt[1])
		}
		expectDelivered(t, tr, "bob@example.net")
	})
	t.Run("a TLS 1.2 client to a TLSv1.3-only recipient is refused", func(t *testing.T) {
		m := mail("carol@tls13.example")
		m.StartTLS, m.MaxTLSVersion = true, tls.VersionTLS12
		tr := w.send(t, m)
		if got, want := tr.Rcpt[0].String(), refusal("carol@tls13.example", "accepts mail only over TLSv1.3 or better"); got != want {
			t.Errorf("got %q, want %q\n%s", got, want, tr)
		}
	})
	t.Run("a table change takes effect without restart", func(t *testing.T) {
		os.WriteFile(table, []byte("panel.example  require_tls=yes\n"), 0o644)
		deadline := time.Now().Add(10 * time.Second)
		for {
			tr := w.send(t, mail("erin@panel.example"))
			if tr.Rcpt[0].String() == refusal("erin@panel.example", "accepts mail only over TLS") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("table change not in force: %v", tr.Rcpt[0])
			}
			if tr.Rcpt[0].Code == 250 {
				delivered++ // accepted before the reload; it reaches the sink too
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
