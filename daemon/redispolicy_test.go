package daemon

import (
	"context"
	"fmt"
	"testing"

	"spamgate/internal/miltertest"
	"spamgate/internal/redistest"
)

// A hosting panel writes one Redis hash per key; the rule is in force for
// the next RCPT, without a reload. When Redis cannot be asked, on_error =
// "tempfail" (the default) answers 451 4.3.0: no cleartext mail slips
// through for a TLS-only customer, and none is lost.
func TestRedisPolicySource(t *testing.T) {
	srv := redistest.Start(t)
	r := startRig(t, fmt.Sprintf("[policy.redis]\naddresses = [%q]\n", srv.Addr()))
	tx := miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"frank@panel.example", "other@example.net"}}
	if got := r.run(t, tx).Refused("frank@panel.example"); got != "" {
		t.Fatalf("before the panel's change: %q", got)
	}

	if err := srv.Client().HSet(context.Background(), "spamgate:policy:panel.example", "require_tls", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	res := r.run(t, tx)
	if got, want := res.Refused("frank@panel.example"), "550 5.7.10 Encryption needed: <frank@panel.example> accepts mail only over TLS"; got != want {
		t.Errorf("after the panel's change: %q, want %q", got, want)
	}
	if got := res.Refused("other@example.net"); got != "" {
		t.Errorf("another recipient was refused: %q", got)
	}

	srv.Kill()
	res = r.run(t, tx)
	want := "451 4.3.0 Recipient policy temporarily unavailable, try again later"
	if got := res.Refused("frank@panel.example"); got != want {
		t.Errorf("with Redis down: %q, want %q", got, want)
	}
}

func TestRedisPolicySourceIgnoreErrors(t *testing.T) {
	srv := redistest.Start(t)
	r := startRig(t, fmt.Sprintf("[policy.redis]\naddresses = [%q]\non_error = \"ignore\"\n\n[[policy.rule]]\nrecipient = \"tls.example\"\nrequire_tls = true\n", srv.Addr()))
	srv.Kill()
	tx := miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"a@tls.example", "b@example.net"}}
	res := r.run(t, tx)
	if got := res.Refused("a@tls.example"); got == "" {
		t.Error("the file's rule was not applied with Redis down")
	}
	if got := res.Refused("b@example.net"); got != "" {
		t.Errorf("with on_error = ignore: %q", got)
	}
}
