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
	s := e.NewSession(context.Background(), "test")
	t.Cleanup(s.Close)
	return s, &logs
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
