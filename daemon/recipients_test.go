package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"spamgate/engine"
	"spamgate/internal/miltertest"
	"spamgate/internal/slapdtest"
)

const (
	rcptReplyUnknown  = "550 5.1.1 Recipient address rejected: User unknown"
	rcptReplyTempFail = "451 4.3.0 Recipient address lookup failed, please try again later"
)

// recipientsExtra is the [recipients] configuration for slapd s, with the
// table file and password file written in a temp dir.
func recipientsExtra(t *testing.T, s *slapdtest.Server, table, onError string) string {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "ldap.secret")
	if err := os.WriteFile(pw, []byte(s.Password()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`
[recipients]
domains = ["example.test"]
table = %q
on_ldap_error = %q

[recipients.ldap]
url = %q
bind_dn = %q
password_file = %q
base_dn = %q
timeout = "1s"
positive_ttl = "10m"
negative_ttl = "1s"
`, table, onError, s.URL(), s.BindDN(), pw, s.BaseDN())
}

func writeRecipientTable(t *testing.T) string {
	t.Helper()
	table := filepath.Join(t.TempDir(), "recipients")
	if err := os.WriteFile(table, []byte("# local mailboxes\npostmaster@example.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return table
}

// rcptReport runs one transaction through the rig's engine with a Report,
// as explain does, for what the milter protocol does not show (the source
// of a verdict).
func rcptReport(t *testing.T, r *rig, rcpts ...string) *engine.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep := &engine.Report{}
	s := r.d.Engine().NewSession(ctx, "report")
	defer s.Close()
	s.Record(rep)
	s.Connect(engine.Client{Addr: netip.MustParseAddr("192.0.2.10"), Hostname: "helo.good.test"})
	s.Helo("helo.good.test")
	s.Mail("user@good.test")
	for _, rcpt := range rcpts {
		s.Rcpt(rcpt)
	}
	s.Abort()
	return rep
}

func checkRcpts(t *testing.T, res *miltertest.Result, want map[string]string) {
	t.Helper()
	for rcpt, reply := range want {
		if got := res.Refused(rcpt); got != reply {
			t.Errorf("RCPT %s: got %q, want %q", rcpt, got, reply)
		}
	}
}

func TestRecipientValidationTableAndLDAP(t *testing.T) {
	slapd := slapdtest.Start(t, slapdtest.TwoMailboxes)
	table := writeRecipientTable(t)
	r := startRig(t, recipientsExtra(t, slapd, table, "tempfail"))
	const injection = "*)(mail=*@example.test"
	tx := func(rcpts ...string) miltertest.Tx {
		return miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: rcpts,
			Headers: [][2]string{{"From", " <user@good.test>"}, {"Subject", " hi"}}}
	}

	t.Run("up", func(t *testing.T) {
		res := r.run(t, tx("postmaster@example.test", "alice@example.test", "nobody@example.test",
			"alice@example.net", injection, "Bob@Example.Test", "postmaster", "PostMaster@example.test"))
		checkRcpts(t, res, map[string]string{
			// RFC 5321 4.5.1: postmaster, bare or at a domain of ours,
			// whether the table lists it or not (issue 12 item 5).
			"postmaster":              "",
			"PostMaster@example.test": "",
			"postmaster@example.test": "",
			"alice@example.test":      "",
			"Bob@Example.Test":        "",
			"nobody@example.test":     rcptReplyUnknown,
			injection:                 rcptReplyUnknown,
			"alice@example.net":       "", // not our domain: not validated
		})
		if res.Final == nil {
			t.Fatal("no end-of-message reply although recipients were accepted")
		}

		rep := rcptReport(t, r, "postmaster@example.test", "alice@example.test", "nobody@example.test")
		want := []string{"known: table " + table + ":2", "known: ldap uid=alice,dc=example,dc=test", "unknown recipient"}
		if len(rep.Recipients) != len(want) {
			t.Fatalf("report has %d recipients: %+v", len(rep.Recipients), rep.Recipients)
		}
		for i, rr := range rep.Recipients {
			if len(rr.Verdicts) == 0 || rr.Verdicts[0].Check != "recipient" || rr.Verdicts[0].Reason != want[i] {
				t.Errorf("%s: verdicts %+v, want first recipient %q", rr.Rcpt, rr.Verdicts, want[i])
			}
		}
	})

	// A hung directory (connections accepted, nothing answered) costs the
	// LDAP timeout, not the whole check timeout, and tempfails.
	slapd.Pause()
	t.Run("ldap hung tempfails", func(t *testing.T) {
		t0 := time.Now()
		res := r.run(t, tx("dave@example.test", "alice@example.net"))
		if el := time.Since(t0); el > 2500*time.Millisecond {
			t.Errorf("transaction took %v with LDAP hung (timeout 1s)", el)
		}
		checkRcpts(t, res, map[string]string{"dave@example.test": rcptReplyTempFail, "alice@example.net": ""})
	})
	slapd.Resume()

	slapd.Kill()
	t.Run("ldap down tempfails", func(t *testing.T) {
		t0 := time.Now()
		res := r.run(t, tx("carol@example.test", "postmaster@example.test", "alice@example.test", "alice@example.net"))
		if el := time.Since(t0); el > 2500*time.Millisecond {
			t.Errorf("transaction took %v with LDAP down (timeout 1s)", el)
		}
		checkRcpts(t, res, map[string]string{
			"carol@example.test":      rcptReplyTempFail,
			"postmaster@example.test": "", // the table needs no LDAP
			"alice@example.test":      "", // found before the outage: cached
			"alice@example.net":       "",
		})
	})

	t.Run("ldap down accept", func(t *testing.T) {
		ra := startRig(t, recipientsExtra(t, slapd, table, "accept"))
		res := ra.run(t, tx("carol@example.test", "bob@example.test", "alice@example.net"))
		checkRcpts(t, res, map[string]string{"carol@example.test": "", "bob@example.test": "", "alice@example.net": ""})
	})

	slapd.Restart()
	t.Run("after restart", func(t *testing.T) {
		res := r.run(t, tx("bob@example.test", "carol@example.test", "alice@example.net"))
		checkRcpts(t, res, map[string]string{
			"bob@example.test":   "",
			"carol@example.test": rcptReplyUnknown,
			"alice@example.net":  "",
		})
	})
}

// An address that is no mailbox of ours must not be found by a filter
// built from it, whatever it holds.
func TestRecipientFilterInjection(t *testing.T) {
	slapd := slapdtest.Start(t, slapdtest.TwoMailboxes)
	r := startRig(t, recipientsExtra(t, slapd, writeRecipientTable(t), "tempfail"))
	addrs := []string{"*@example.test", "alice*@example.test", `alice\2a@example.test`, "*)(uid=*@example.test", "(alice)@example.test"}
	res := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: append(addrs, "alice@example.net")})
	for _, a := range addrs {
		if got := res.Refused(a); got != rcptReplyUnknown {
			t.Errorf("RCPT %s: got %q, want %q", a, got, rcptReplyUnknown)
		}
	}
	if got := res.Refused("alice@example.net"); got != "" {
		t.Errorf("foreign recipient refused: %q", got)
	}
}
