package daemon

import (
	"context"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"spamgate/config"
	"spamgate/internal/miltertest"
)

// SIGTERM's drain: a session in the middle of a message finishes it (the
// reply at end of message still arrives), a session between messages is
// closed at once, and new connections are refused.
func TestShutdownDrains(t *testing.T) {
	r := startRig(t, "")
	busy, err := miltertest.Dial(r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	idle, err := miltertest.Dial(r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	// busy is inside a transaction: connect, HELO, MAIL.
	if _, err := busy.Conn("client", gomilter.FamilyInet, 25, "192.0.2.10"); err != nil {
		t.Fatal(err)
	}
	if _, err := busy.Helo("helo.good.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := busy.Mail("<user@good.test>", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := idle.Conn("client", gomilter.FamilyInet, 25, "192.0.2.11"); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- r.d.Shutdown(ctx)
	}()
	waitSessions(t, r, 1) // the idle session goes first

	act, err := busy.Rcpt("<alice@example.net>", nil)
	if err != nil || act.Code != gomilter.ActContinue {
		t.Fatalf("RCPT during drain: %+v, %v", act, err)
	}
	if _, err := busy.HeaderField("Subject", " drain"); err != nil {
		t.Fatal(err)
	}
	if _, err := busy.HeaderEnd(); err != nil {
		t.Fatal(err)
	}
	mods, act, err := busy.End()
	if err != nil || act.Code != gomilter.ActContinue || len(mods) == 0 {
		t.Fatalf("end of message during drain: %v %+v %v", mods, act, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown did not finish after the last message")
	}
	if _, err := miltertest.Dial(r.addr); err == nil {
		t.Error("a new connection was accepted after shutdown")
	}
}

func waitSessions(t *testing.T, r *rig, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.d.srv.ActiveSessions() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions open, want %d", r.d.srv.ActiveSessions(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// One connection over [milter] max_sessions is closed at once (Postfix then
// applies milter_default_action, a tempfail); the sessions in progress go on.
func TestMaxSessions(t *testing.T) {
	r := startRigOpts(t, rigOptions{tweak: func(c *config.Config) { c.Milter.MaxSessions = 1 }})
	first, err := miltertest.Dial(r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if second, err := miltertest.Dial(r.addr); err == nil {
		second.Close()
		t.Fatal("a second session over max_sessions = 1 was served")
	}
	if _, err := first.Conn("client", gomilter.FamilyInet, 25, "192.0.2.10"); err != nil {
		t.Fatalf("the first session broke: %v", err)
	}
}

// A session older than [milter] max_session_time finishes the message it
// is in, then ends; Postfix tempfails the client's next message.
func TestMaxSessionTime(t *testing.T) {
	r := startRigOpts(t, rigOptions{tweak: func(c *config.Config) {
		c.Milter.MaxSessionTime = config.Duration{Duration: 300 * time.Millisecond}
	}})
	s, err := miltertest.Dial(r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Conn("client", gomilter.FamilyInet, 25, "192.0.2.10"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Helo("helo.good.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mail("<user@good.test>", nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // past the limit, in the middle of a message
	if act, err := s.Rcpt("<alice@example.net>", nil); err != nil || act.Code != gomilter.ActContinue {
		t.Fatalf("RCPT after the limit, in the message: %+v, %v", act, err)
	}
	if _, err := s.HeaderEnd(); err != nil {
		t.Fatal(err)
	}
	if _, act, err := s.End(); err != nil || act.Code != gomilter.ActContinue {
		t.Fatalf("end of message: %+v, %v", act, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.d.srv.ActiveSessions() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the session did not end after its message")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
