// Package e2e runs spamgate behind a real Postfix (Debian's package):
// an SMTP client → Postfix smtpd with spamgate as its milter → Postfix's
// smtp-sink as the next hop. Everything listens on loopback.
package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spamgate/config"
	"spamgate/daemon"
	"spamgate/dnsx/dnstest"
	"spamgate/internal/logbuf"
	"spamgate/internal/postfixtest"
)

const spamgateConfig = `
[milter]
listen = "%s"
socket_mode = "0666"
authserv_id = "mx.test"
internal_networks = []
[log]
level = "info"
[dns]
nameservers = ["%s"]
[greylist]
mode = "never"
[dnsbl]
threshold = 2
[[dnsbl.zone]]
name = "bl.test"
weight = 2
%s`

// logBuffer collects spamgate's log lines for assertions.
type logBuffer = logbuf.Buffer

type world struct {
	zone    *dnstest.Zone
	postfix *postfixtest.Postfix
	sink    *postfixtest.Sink
	log     *logBuffer
}

// setUp starts the DNS server, spamgate on listen ("" = TCP on a free
// port) with extra configuration appended, smtp-sink and Postfix (offering
// STARTTLS), all on loopback.
func setUp(t *testing.T, listen, extra string) *world {
	t.Helper()
	z, err := dnstest.LoadZoneFile("../testdata/dns/integration.zone", "test.")
	if err != nil {
		t.Fatal(err)
	}
	dns := dnstest.Start(t, z)
	if listen == "" {
		listen = "inet:127.0.0.1:0"
	}
	cfg, err := config.Parse("e2e.toml", fmt.Appendf(nil, spamgateConfig, listen, dns.Addr, extra))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	d, err := daemon.Start(cfg, slog.New(slog.NewTextHandler(logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.Shutdown(ctx)
		if t.Failed() {
			t.Logf("spamgate log:\n%s", logs)
		}
	})
	waitHealthy(t, d, "bl.test")
	milter := "inet:" + d.Addr().String()
	if strings.HasPrefix(listen, "unix:") {
		milter = listen
	}
	sink := postfixtest.StartSink(t)
	pf := postfixtest.Start(t, postfixtest.Options{
		Milter: milter,
		Relay:  sink.Addr,
		TLS:    true,
		// The settings README.md recommends; nothing else about macros is
		// needed because spamgate asks for its macros itself.
		MainCF: map[string]string{
			"milter_default_action":  "tempfail",
			"milter_protocol":        "6",
			"milter_command_timeout": "30s",
		},
	})
	return &world{zone: z, postfix: pf, sink: sink, log: logs}
}

func waitHealthy(t *testing.T, d *daemon.Daemon, zone string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ok, _ := d.Engine().DNSBL().Healthy(zone); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("zone %s never became healthy", zone)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (w *world) send(t *testing.T, m postfixtest.Mail) postfixtest.Transcript {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := postfixtest.Send(ctx, w.postfix.SMTPAddr, m)
	if err != nil {
		t.Fatalf("send: %v\n%s\npostfix log:\n%s", err, tr, w.postfix.Log())
	}
	return tr
}

const message = "From: User <user@loop.test>\r\n" +
	"To: alice@example.net\r\n" +
	"Subject: end to end\r\n" +
	"Authentication-Results: mx.test; spf=pass smtp.mailfrom=forged@loop.test\r\n" +
	"Authentication-Results: other.example; spf=fail\r\n" +
	"\r\n" +
	"Hello through Postfix.\r\n"

func TestPostfixEndToEnd(t *testing.T) {
	for _, transport := range []string{"inet", "unix"} {
		t.Run(transport, func(t *testing.T) {
			listen := ""
			if transport == "unix" {
				listen = "unix:" + filepath.Join(postfixtest.SocketDir(t), "spamgate.sock")
			}
			w := setUp(t, listen, "")
			t.Run("clean message arrives with our Authentication-Results", func(t *testing.T) { cleanMessage(t, w) })
			t.Run("listed client is refused at RCPT", func(t *testing.T) { listedClient(t, w) })
			t.Run("unknown sender domain is refused at RCPT", func(t *testing.T) { unknownSenderDomain(t, w) })
			if strings.Contains(w.postfix.Log(), "milter") && strings.Contains(w.postfix.Log(), "warning") {
				t.Errorf("Postfix logged milter warnings:\n%s", w.postfix.Log())
			}
		})
	}
}

func cleanMessage(t *testing.T, w *world) {
	tr := w.send(t, postfixtest.Mail{Helo: "client.loop.test", From: "user@loop.test",
		To: []string{"alice@example.net", "bob@example.net"}, Data: []byte(message)})
	if tr.Message.Code != 250 {
		t.Fatalf("message not accepted:\n%s\npostfix log:\n%s", tr, w.postfix.Log())
	}
	msgs := w.sink.WaitMessages(t, 1, 20*time.Second)
	got := string(msgs[len(msgs)-1].Raw)
	header, _, _ := strings.Cut(got, "\r\n\r\n")
	// Ours goes on top, above the spam score's fields and Postfix's own
	// Received (RFC 8601 section 5).
	if !strings.HasPrefix(header, "Authentication-Results: mx.test;\r\n\tiprev=permerror policy.iprev=127.0.0.1;\r\n"+
		"\tspf=pass smtp.mailfrom=user@loop.test;\r\n\tdmarc=none header.from=loop.test\r\n"+
		"X-Spam-Score: 3.3\r\nX-Spam-Level: ***\r\n"+
		"X-Spam-Status: No, score=3.3 required=4.5 tests=SG_HELO_UNRESOLVABLE,\r\n"+
		"\tSG_MISSING_DATE,SG_MISSING_MID,SG_RDNS_NONE autolearn=disabled\r\n"+
		"\tversion=spamgate\r\nReceived: ") {
		t.Errorf("our Authentication-Results is not the first field:\n%s", header)
	}
	if strings.Contains(header, "forged@loop.test") {
		t.Errorf("forged Authentication-Results kept:\n%s", header)
	}
	if !strings.Contains(header, "Authentication-Results: other.example; spf=fail") {
		t.Errorf("foreign Authentication-Results removed:\n%s", header)
	}
	// The queue id reaches spamgate at end of message through the macro list
	// spamgate negotiates (SMFIF_SETSYMLIST).
	if id := tr.QueueID(); id == "" || !strings.Contains(w.log.String(), "queue_id="+id) {
		t.Errorf("spamgate's log has no line with queue_id=%s", id)
	}
}

func listedClient(t *testing.T, w *world) {
	tr := w.send(t, postfixtest.Mail{Source: "127.0.0.2", Helo: "client.loop.test", From: "user@loop.test",
		To: []string{"alice@example.net"}, Data: []byte(message)})
	want := "554 5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.test"
	if len(tr.Rcpt) != 1 || tr.Rcpt[0].String() != want {
		t.Errorf("RCPT from a listed client: got %v, want %q\n%s", tr.Rcpt, want, tr)
	}
}

func unknownSenderDomain(t *testing.T, w *world) {
	tr := w.send(t, postfixtest.Mail{Helo: "client.loop.test", From: "user@nowhere.test",
		To: []string{"alice@example.net"}, Data: []byte(message)})
	want := "550 5.1.8 Sender address rejected: Domain not found"
	if len(tr.Rcpt) != 1 || tr.Rcpt[0].String() != want {
		t.Errorf("RCPT with an unknown sender domain: got %v, want %q\n%s", tr.Rcpt, want, tr)
	}
}
