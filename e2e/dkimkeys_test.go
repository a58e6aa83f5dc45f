package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spamgate/config"
	"spamgate/daemon"
	"spamgate/dkim"
	"spamgate/dkimkeys"
	"spamgate/dnscheck"
	"spamgate/dnsx"
	"spamgate/dnsx/dnstest"
	"spamgate/internal/postfixtest"
)

// publishKey writes an active key into the key table and its record into
// the zone.
func publishKey(t *testing.T, z *dnstest.Zone, dir, domain, selector, algo string, pending bool) {
	t.Helper()
	signer, pemKey, err := dkim.GenerateKey(algo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dkimkeys.WritePending(dir, domain, selector, pemKey); err != nil {
		t.Fatal(err)
	}
	if !pending {
		os.Remove(filepath.Join(dir, domain, selector+".pending"))
	}
	record, err := dkim.DNSRecord(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := z.AddText(fmt.Sprintf("%s._domainkey.%s. 300 IN TXT %s", selector, domain, quoted(record))); err != nil {
		t.Fatal(err)
	}
}

func quoted(s string) string {
	var parts []string
	for _, p := range splitTXT(s) {
		parts = append(parts, `"`+p+`"`)
	}
	return strings.Join(parts, " ")
}

// Issue 17: outbound mail is signed with keys from [dkim] keys_dir (rsa and
// ed25519 together) and verifies against the published records after
// Postfix; a rotation done with the running daemon (new key published,
// rotate) is signed with at the next message, without a restart.
func TestKeyTableSignsThroughPostfix(t *testing.T) {
	z, err := dnstest.LoadZoneFile("../testdata/dns/integration.zone", "test.")
	if err != nil {
		t.Fatal(err)
	}
	dnsSrv := dnstest.Start(t, z)
	keys := filepath.Join(t.TempDir(), "keys")
	publishKey(t, z, keys, "loop.test", "r1", "rsa", false)
	publishKey(t, z, keys, "loop.test", "e1", "ed25519", false)
	publishKey(t, z, keys, "other.test", "e1", "ed25519", false) // a table of several domains

	base := "[milter]\nlisten = \"inet:127.0.0.1:0\"\nauthserv_id = \"%s\"\ninternal_networks = [%s]\n[dns]\nnameservers = [%q]\n[greylist]\nmode = \"never\"\n[dnsbl]\nenabled = false\n"
	cfg, err := config.Parse("e2e.toml", []byte(fmt.Sprintf(base, "out.test", `"127.0.0.0/8"`, dnsSrv.Addr)+
		fmt.Sprintf("[dkim]\nkeys_dir = %q\nkeys_watch_interval = \"50ms\"\n", keys)))
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Start(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	outbound := d.Addr().String()
	inbound := startSpamgate(t, fmt.Sprintf(base, "in.test", "", dnsSrv.Addr))
	sink := postfixtest.StartSink(t)
	b := postfixtest.Start(t, postfixtest.Options{Milter: "inet:" + inbound, Relay: sink.Addr})
	a := postfixtest.Start(t, postfixtest.Options{Milter: "inet:" + outbound, Relay: b.SMTPAddr})

	send := func(n int, want ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tr, err := postfixtest.Send(ctx, a.SMTPAddr, postfixtest.Mail{Helo: "client.loop.test", From: "user@loop.test",
			To: []string{"alice@example.net"}, Data: []byte("From: User <user@loop.test>\r\nTo: alice@example.net\r\nSubject: key table\r\n\r\nHello.\r\n")})
		if err != nil || tr.Message.Code != 250 {
			t.Fatalf("submission: %v\n%s", err, tr)
		}
		got := string(sink.WaitMessages(t, n, 20*time.Second)[n-1].Raw)
		header, _, _ := strings.Cut(got, "\r\n\r\n")
		for _, w := range want {
			if !strings.Contains(header, w) {
				t.Errorf("message %d: inbound Authentication-Results lacks %q:\n%s", n, w, header)
			}
		}
	}
	send(1, "dkim=pass header.d=loop.test header.s=e1", "dkim=pass header.d=loop.test header.s=r1", "dmarc=")

	// Rotation of the ed25519 key while the daemon runs.
	publishKey(t, z, keys, "loop.test", "e2", "ed25519", true)
	r, err := dnsx.New(dnsx.Config{Nameservers: []string{dnsSrv.Addr}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rot, err := dkimkeys.Rotate(context.Background(), keys, "loop.test", func(ctx context.Context, e dkimkeys.Entry) error {
		if c := dnscheck.CheckKey(ctx, r, e); c.Status != dnscheck.Pass {
			return fmt.Errorf("%s", c.Detail)
		}
		return nil
	})
	if err != nil || len(rot.Activated) != 1 || len(rot.Retired) != 1 || rot.Retired[0].Selector != "e1" {
		t.Fatalf("rotate: %+v, %v", rot, err)
	}
	// The watch takes the change after it has settled.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		sel := map[string]bool{}
		for _, k := range d.Engine().KeyTable().Keys("loop.test") {
			sel[k.Selector] = true
		}
		if sel["e2"] && sel["r1"] && len(sel) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the running daemon still signs with %v", sel)
		}
	}
	send(2, "dkim=pass header.d=loop.test header.s=e2", "dkim=pass header.d=loop.test header.s=r1")
}
