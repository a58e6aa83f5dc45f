package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"spamgate/internal/miltertest"
)

const policyRules = `
[policy]
tables = [%q]
watch_interval = "50ms"
tls_exempt_networks = ["192.0.2.50/32"]

[[policy.rule]]
recipient = "alice@tls.example"
require_tls = true

[[policy.rule]]
recipient = "tls13.example"
require_tls = true
min_tls_version = "TLSv1.3"

[[policy.rule]]
recipient = "soft.example"
require_tls = true
tls_reply = 450

[[policy.rule]]
recipient = "whitelisted@example.net"
skip = true

[[policy.rule]]
recipient = "strict@example.net"
dnsbl_threshold = 1
`

func startPolicyRig(t *testing.T, table string) (*rig, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tls-customers")
	if err := os.WriteFile(path, []byte(table), 0o600); err != nil {
		t.Fatal(err)
	}
	return startRig(t, fmt.Sprintf(policyRules, path)), path
}

func TestRequireTLSPerRecipient(t *testing.T) {
	r, _ := startPolicyRig(t, "")
	cleartext := miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test",
		Rcpts: []string{"alice@tls.example", "bob@tls.example"}}
	res := r.run(t, cleartext)
	if got, want := res.Refused("alice@tls.example"), "550 5.7.10 Encryption needed: <alice@tls.example> accepts mail only over TLS"; got != want {
		t.Errorf("cleartext to a TLS-only recipient: %q, want %q", got, want)
	}
	if got := res.Refused("bob@tls.example"); got != "" {
		t.Errorf("the other recipient of the transaction was refused: %q", got)
	}
	if ar := res.Header("Authentication-Results"); len(ar) != 1 {
		t.Errorf("message for the remaining recipient lacks Authentication-Results: %q", ar)
	}

	overTLS := cleartext
	overTLS.TLSVersion, overTLS.Cipher, overTLS.CipherBits = "TLSv1.3", "TLS_AES_256_GCM_SHA384", "256"
	if got := r.run(t, overTLS).Refused("alice@tls.example"); got != "" {
		t.Errorf("over TLS: %q", got)
	}
}

func TestTLSPolicyVariants(t *testing.T) {
	r, _ := startPolicyRig(t, "")
	tls12 := miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", TLSVersion: "TLSv1.2",
		Cipher: "ECDHE-RSA-AES256-GCM-SHA384", CipherBits: "256"}
	tests := []struct {
		name string
		tx   miltertest.Tx
		rcpt string
		want string
	}{
		{"minimum version not met", tls12, "carol@tls13.example", "550 5.7.10 Encryption needed: <carol@tls13.example> accepts mail only over TLSv1.3 or better"},
		{"soft rollout answers 450", miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test"}, "dave@soft.example",
			"450 4.7.10 Encryption needed: <dave@soft.example> accepts mail only over TLS"},
		{"exempt relay", miltertest.Tx{ClientIP: "192.0.2.50", From: "user@good.test"}, "alice@tls.example", ""},
		{"internal network is trusted", miltertest.Tx{ClientIP: "192.0.2.201", From: "user@good.test"}, "alice@tls.example", ""},
		{"skip overrides the DNSBL", miltertest.Tx{ClientIP: "192.0.2.99", From: "user@good.test"}, "whitelisted@example.net", ""},
		{"a per-recipient DNSBL threshold", miltertest.Tx{ClientIP: "192.0.2.99", From: "user@good.test"}, "strict@example.net",
			"554 5.7.1 Service unavailable; client [192.0.2.99] blocked using bl.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.tx.Rcpts = []string{tt.rcpt}
			if got := r.run(t, tt.tx).Refused(tt.rcpt); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// A hosting panel rewrites the table file; the change applies without a
// restart, and a broken file keeps the policy in force.
func TestTableFileChangeTakesEffect(t *testing.T) {
	r, path := startPolicyRig(t, "# no customer requires TLS yet\n")
	tx := miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"erin@panel.example"}}
	if got := r.run(t, tx).Refused("erin@panel.example"); got != "" {
		t.Fatalf("before the change: %q", got)
	}
	os.WriteFile(path, []byte("panel.example  require_tls=yes\n"), 0o600)
	want := "550 5.7.10 Encryption needed: <erin@panel.example> accepts mail only over TLS"
	waitFor(t, func() bool { return r.run(t, tx).Refused("erin@panel.example") == want })

	os.WriteFile(path, []byte("panel.example  require_tls=perhaps\n"), 0o600)
	time.Sleep(500 * time.Millisecond) // several watch intervals
	if got := r.run(t, tx).Refused("erin@panel.example"); got != want {
		t.Fatalf("a broken table changed the policy: %q", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Reloads swap the whole policy at once, between sessions: while a table
// that names two domains together flips back and forth, no transaction sees
// one domain's rule from the old policy and the other's from the new.
func TestReloadUnderTrafficIsAtomic(t *testing.T) {
	r, path := startPolicyRig(t, "")
	both := "one.example  require_tls=yes\ntwo.example  require_tls=yes\n"
	stop := make(chan struct{})
	flipped := make(chan int)
	go func() {
		n := 0
		defer func() { flipped <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			text := both
			if n%2 == 1 {
				text = "# nobody requires TLS\n"
			}
			os.WriteFile(path, []byte(text), 0o600)
			if err := r.d.reloadTables(); err != nil {
				t.Error(err)
				return
			}
			n++
		}
	}()
	var mixed, refused, accepted int
	for i := 0; i < 300; i++ {
		res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test",
			Rcpts: []string{"a@one.example", "b@two.example"}})
		a, b := res.Refused("a@one.example") != "", res.Refused("b@two.example") != ""
		switch {
		case a != b:
			mixed++
		case a:
			refused++
		default:
			accepted++
		}
	}
	close(stop)
	reloads := <-flipped
	t.Logf("%d reloads; transactions: %d refused both, %d accepted both, %d mixed", reloads, refused, accepted, mixed)
	if mixed > 0 {
		t.Errorf("%d transactions saw half a policy", mixed)
	}
	if reloads < 10 {
		t.Errorf("only %d reloads happened during the traffic", reloads)
	}
}
