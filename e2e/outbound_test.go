package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"spamgate/config"
	"spamgate/daemon"
	"spamgate/dnsx/dnstest"
	"spamgate/internal/postfixtest"
)

const outboundConfig = `
[milter]
listen = "inet:127.0.0.1:0"
[dns]
nameservers = [%q]
[tls_policy_map]
enabled = true
listen = "inet:127.0.0.1:0"
[[tls_policy_map.nexthop]]
nexthop = "[%s"
policy = "encrypt"
[[tls_policy_map.nexthop]]
nexthop = "[%s"
policy = "encrypt"
`

// A sending Postfix asks spamgate's TLS policy map (smtp_tls_policy_maps
// over socketmap) before each delivery: to a next hop that offers STARTTLS
// the mail goes out encrypted; to one that does not, it is deferred, not
// sent in cleartext.
func TestOutboundTLSPolicyThroughPostfix(t *testing.T) {
	sinkTLS, sinkPlain := postfixtest.StartSink(t), postfixtest.StartSink(t)
	withTLS := postfixtest.Start(t, postfixtest.Options{TLS: true, Relay: sinkTLS.Addr})
	cleartext := postfixtest.Start(t, postfixtest.Options{Relay: sinkPlain.Addr})

	dns := dnstest.Start(t, dnstest.NewZone())
	cfg, err := config.Parse("outbound.toml", fmt.Appendf(nil, outboundConfig, dns.Addr,
		bracket(withTLS.SMTPAddr), bracket(cleartext.SMTPAddr)))
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Start(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	policyMap := "socketmap:inet:" + d.TLSPolicyMapAddr().String() + ":tlspolicy"

	send := func(t *testing.T, next *postfixtest.Postfix) *postfixtest.Postfix {
		t.Helper()
		sender := postfixtest.Start(t, postfixtest.Options{Relay: next.SMTPAddr,
			MainCF: map[string]string{"smtp_tls_policy_maps": policyMap, "smtp_tls_loglevel": "1"}})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tr, err := postfixtest.Send(ctx, sender.SMTPAddr, postfixtest.Mail{Helo: "client.test", From: "a@out.test",
			To: []string{"customer@tls.example"}, Data: []byte("Subject: outbound\r\n\r\nconfidential\r\n")})
		if err != nil || tr.Message.Code != 250 {
			t.Fatalf("submission: %v\n%s", err, tr)
		}
		return sender
	}

	t.Run("next hop offers TLS: delivered encrypted", func(t *testing.T) {
		sender := send(t, withTLS)
		sinkTLS.WaitMessages(t, 1, 20*time.Second)
		// Postfix logs through postlogd, asynchronously: wait for the line.
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(sender.Log(), "TLS connection established to"); {
			if time.Now().After(deadline) {
				t.Fatalf("sender did not use TLS:\n%s", sender.Log())
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("next hop without TLS: deferred, never sent in cleartext", func(t *testing.T) {
		sender := send(t, cleartext)
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(sender.Log(), "status=deferred") {
			if time.Now().After(deadline) {
				t.Fatalf("no deferral:\n%s", sender.Log())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if log := sender.Log(); !strings.Contains(log, "TLS is required, but was not offered") {
			t.Errorf("deferred for another reason:\n%s", log)
		}
		if n := len(sinkPlain.Messages(t)); n != 0 {
			t.Errorf("%d messages reached the cleartext next hop", n)
		}
	})
}

// bracket writes a next hop the way Postfix's relayhost names it: [IP]:PORT.
func bracket(addr string) string {
	host, port, _ := strings.Cut(addr, ":")
	return host + "]:" + port
}
