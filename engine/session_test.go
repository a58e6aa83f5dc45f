package engine

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"spamgate/config"
	"spamgate/dnsx"
)

const tlsOnly = `
[milter]
authserv_id = "mx.test"
internal_networks = []
[dns]
nameservers = ["127.0.0.1:1"]
[dnsbl]
enabled = false
[sender_domain]
enabled = false
[spf]
enabled = false
[[policy.rule]]
recipient = "tls.example"
require_tls = true
`

func newTestSession(t *testing.T, text string) (*Session, *bytes.Buffer) {
	t.Helper()
	e, logs := newTestEngine(t, text)
	s := e.NewSession(context.Background(), "test")
	t.Cleanup(s.Close)
	return s, logs
}

// newTestEngine builds an Engine from a configuration text, with its own
// resolver, logging into the returned buffer (read it after the session
// is done: it is not safe for concurrent use).
func newTestEngine(t *testing.T, text string) (*Engine, *bytes.Buffer) {
	t.Helper()
	cfg, err := config.Parse("engine.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	res, err := dnsx.New(dnsx.Config{Nameservers: cfg.DNS.Nameservers})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	e, err := New(cfg, res, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, &logs
}

// Postfix sends the queue id at MAIL when smtpd_delay_open_until_valid_rcpt
// is off; the refusal's log line must carry it.
func TestQueueIDFromMailStage(t *testing.T) {
	s, logs := newTestSession(t, tlsOnly)
	s.Connect(Client{Addr: mustAddr("192.0.2.1")})
	s.Helo("client.example")
	s.Macros(map[string]string{"i": "4QUEUE1"})
	s.Mail("user@sender.example")
	if r := s.Rcpt("a@tls.example"); r == nil || r.String() != "550 5.7.10 Encryption needed: <a@tls.example> accepts mail only over TLS" {
		t.Fatalf("reply %v", r)
	}
	if !strings.Contains(logs.String(), "queue_id=4QUEUE1") || !strings.Contains(logs.String(), "rule=engine.toml:13") {
		t.Errorf("refusal log lacks the queue id or the rule:\n%s", logs)
	}
	s.Abort()
	s.Mail("user@sender.example")
	logs.Reset()
	s.Rcpt("b@tls.example")
	if strings.Contains(logs.String(), "4QUEUE1") {
		t.Errorf("the next transaction kept the old queue id:\n%s", logs)
	}
}

// The TLS facts from HELO (go-milter forgets them by RCPT) decide at RCPT.
func TestTLSFactsKeptFromHelo(t *testing.T) {
	s, _ := newTestSession(t, tlsOnly)
	s.Connect(Client{Addr: mustAddr("192.0.2.1")})
	s.Macros(map[string]string{"{tls_version}": "TLSv1.3", "{cipher}": "TLS_AES_256_GCM_SHA384", "{cipher_bits}": "256"})
	s.Helo("client.example")
	s.Macros(map[string]string{"i": ""}) // the MAIL packet replaces go-milter's map
	s.Mail("user@sender.example")
	if r := s.Rcpt("a@tls.example"); r != nil {
		t.Fatalf("refused over TLS: %v", r)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// Issue 12 item 6: Postfix forgets the SASL login at STARTTLS and leaves
// out macros without a value; a login from before must not keep the next
// transaction "outbound" (every inbound check skipped).
func TestStaleLoginAfterSTARTTLS(t *testing.T) {
	s, _ := newTestSession(t, tlsOnly)
	s.Connect(Client{Addr: mustAddr("192.0.2.1")})
	s.Macros(map[string]string{})
	s.Helo("client.example")
	s.Macros(map[string]string{"{auth_authen}": "alice"})
	s.Mail("alice@example.net")
	if !s.msg.outbound {
		t.Fatal("an authenticated transaction is not outbound")
	}
	s.Abort()
	s.Macros(map[string]string{"{tls_version}": "TLSv1.3", "{cipher}": "TLS_AES_128_GCM_SHA256", "{cipher_bits}": "128"})
	s.Helo("client.example") // EHLO after STARTTLS
	s.Macros(map[string]string{"i": ""})
	s.Mail("mallory@example.org")
	if s.msg.outbound {
		t.Error("the login from before STARTTLS still makes the session outbound")
	}
}

// The TLS facts are HELO's: a HELO packet without them means cleartext.
func TestTLSFactsResetAtHelo(t *testing.T) {
	s, _ := newTestSession(t, tlsOnly)
	s.Connect(Client{Addr: mustAddr("192.0.2.1")})
	s.Macros(map[string]string{"{tls_version}": "TLSv1.3", "{cipher}": "TLS_AES_256_GCM_SHA384", "{cipher_bits}": "256"})
	s.Helo("client.example")
	s.Macros(map[string]string{})
	s.Helo("client.example")
	s.Macros(map[string]string{"i": ""})
	s.Mail("user@sender.example")
	if r := s.Rcpt("a@tls.example"); r == nil || r.Status != "5.7.10" {
		t.Fatalf("cleartext after a second HELO: %v, want 5.7.10", r)
	}
}

// Issue 12 item 7: only internal_networks and SASL make a session
// outbound; a client without a usable address is checked like any other.
func TestClientWithoutAddressIsInbound(t *testing.T) {
	s, _ := newTestSession(t, tlsOnly)
	s.Macros(map[string]string{"{client_addr}": "[UNAVAILABLE]"})
	s.Connect(Client{Hostname: "unknown"})
	s.Macros(map[string]string{})
	s.Helo("client.example")
	s.Mail("user@sender.example")
	if s.msg.outbound {
		t.Fatal("a client without an address is outbound")
	}
	if r := s.Rcpt("a@tls.example"); r == nil || r.Status != "5.7.10" {
		t.Fatalf("cleartext from a client without an address: %v, want 5.7.10", r)
	}
}

// Issue 12 item 5: RCPT TO:<postmaster> is always accepted (RFC 5321 4.5.1).
func TestPostmasterWithoutDomain(t *testing.T) {
	for _, rcpt := range []string{"postmaster", "<Postmaster>", "POSTMASTER"} {
		if pm, bare := isPostmaster(rcpt); !pm || !bare {
			t.Errorf("isPostmaster(%q) = %v, %v", rcpt, pm, bare)
		}
	}
	if pm, bare := isPostmaster("postmaster@example.net"); !pm || bare {
		t.Errorf("postmaster@example.net: %v, %v", pm, bare)
	}
	if pm, _ := isPostmaster("postmaster2@example.net"); pm {
		t.Error("postmaster2 is not the postmaster")
	}
}
