package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"spamgate/config"
	"spamgate/dnsx"
	"spamgate/history"
)

// openHistory gives the engine a real embedded store in a temp dir.
func useTestHistory(t testing.TB, e *Engine) *history.FileStore {
	t.Helper()
	st, err := history.OpenFile(history.FileOptions{Dir: t.TempDir(), Days: 14, MaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.UseHistory(st)
	return st
}

// TestDecisionHistory: a cleartext transaction refused at RCPT for one
// recipient and accepted for another, aborted (the client gave up), and
// a TLS transaction that reaches end of message are both recorded with
// their facts; a transaction without RCPT and an explain run are not.
func TestDecisionHistory(t *testing.T) {
	e, _ := newTestEngine(t, tlsOnly)
	st := useTestHistory(t, e)

	s := e.NewSession(context.Background(), "t1")
	s.Connect(Client{Addr: mustAddr("192.0.2.1"), Hostname: "unknown"})
	s.Helo("client.example")
	s.Mail("user@sender.example")
	s.Rcpt("a@tls.example")
	s.Macros(map[string]string{"i": "4QUEUE1"})
	s.Rcpt("b@other.example")
	s.Abort()
	s.Mail("nobody@sender.example") // no RCPT: nothing to record
	s.Abort()
	s.Close()

	s = e.NewSession(context.Background(), "t2")
	s.Macros(map[string]string{"{tls_version}": "TLSv1.3", "{cipher}": "TLS_AES_256_GCM_SHA384", "{cipher_bits}": "256"})
	s.Connect(Client{Addr: mustAddr("2001:db8::5"), Hostname: "mx.sender.example"})
	s.Helo("mx.sender.example")
	s.Mail("<>")
	s.Macros(map[string]string{"i": "4QUEUE2"})
	s.Rcpt("a@tls.example")
	s.Header("Subject", " hi")
	s.EndHeaders()
	s.End()
	s.Close()

	if _, err := e.Explain(context.Background(), ExplainRequest{Client: "192.0.2.9", Helo: "x", From: "a@b.example", To: []string{"c@tls.example"}}); err != nil {
		t.Fatal(err)
	}
	st.Sync()
	got, err := st.Query(context.Background(), history.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d records, want 2: %+v", len(got), got)
	}
	tlsRec, clear := got[0], got[1]
	if clear.QueueID != "4QUEUE1" || clear.Client != "192.0.2.1" || clear.ClientName != "" || clear.Helo != "client.example" ||
		clear.Sender != "user@sender.example" || clear.TLSVersion != "" || len(clear.Recipients) != 2 {
		t.Errorf("cleartext record: %+v", clear)
	}
	if r := clear.Recipients[0]; r.Addr != "a@tls.example" || r.Check != "tls" || r.Rule != "engine.toml:13" ||
		r.Reply != "550 5.7.10 Encryption needed: <a@tls.example> accepts mail only over TLS" || r.Reason == "" {
		t.Errorf("refused recipient: %+v", r)
	}
	if r := clear.Recipients[1]; r.Addr != "b@other.example" || r.Reply != "" || r.Check != "" {
		t.Errorf("accepted recipient: %+v", r)
	}
	if tlsRec.QueueID != "4QUEUE2" || tlsRec.Client != "2001:db8::5" || tlsRec.ClientName != "mx.sender.example" ||
		tlsRec.TLSVersion != "TLSv1.3" || tlsRec.CipherBits != 256 || tlsRec.Sender != "<>" || tlsRec.Reply != "" ||
		len(tlsRec.Recipients) != 1 || tlsRec.Recipients[0].Reply != "" || tlsRec.Recipients[0].Rule != "engine.toml:13" {
		t.Errorf("TLS record: %+v", tlsRec)
	}
	if tlsRec.Time.Before(clear.Time) {
		t.Errorf("times out of order: %v, %v", clear.Time, tlsRec.Time)
	}
}

// BenchmarkTransaction is one inbound transaction with two recipients (one
// refused at RCPT), with the decision history off and on: the allocations
// the history adds to the milter path.
func BenchmarkTransaction(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "history=off"
		if on {
			name = "history=on"
		}
		b.Run(name, func(b *testing.B) {
			e := newBenchEngine(b, tlsOnly)
			if on {
				useTestHistory(b, e)
			}
			macros := map[string]string{"i": "4QUEUE1"}
			b.ReportAllocs()
			for b.Loop() {
				s := e.NewSession(context.Background(), "bench")
				s.Connect(Client{Addr: mustAddr("192.0.2.1"), Hostname: "unknown"})
				s.Helo("client.example")
				s.Mail("user@sender.example")
				s.Rcpt("a@tls.example")
				s.Macros(macros)
				s.Rcpt("b@other.example")
				s.Header("Subject", " hi")
				s.EndHeaders()
				s.End()
				s.Close()
			}
		})
	}
}

// newBenchEngine is newTestEngine for benchmarks, logging nowhere.
func newBenchEngine(b *testing.B, text string) *Engine {
	cfg, err := config.Parse("engine.toml", []byte(text))
	if err != nil {
		b.Fatal(err)
	}
	res, err := dnsx.New(dnsx.Config{Nameservers: cfg.DNS.Nameservers})
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(cfg, res, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// TestDecisionHistoryManyRecipients: a transaction with more recipients
// than history.MaxRecipients keeps that many and counts the rest.
func TestDecisionHistoryManyRecipients(t *testing.T) {
	e, _ := newTestEngine(t, tlsOnly)
	st := useTestHistory(t, e)
	s := e.NewSession(context.Background(), "many")
	s.Connect(Client{Addr: mustAddr("192.0.2.1")})
	s.Helo("client.example")
	s.Mail("user@sender.example")
	for i := range history.MaxRecipients + 5 {
		s.Rcpt(fmt.Sprintf("r%d@other.example", i))
	}
	s.Close()
	st.Sync()
	got, err := st.Query(context.Background(), history.Filter{})
	if err != nil || len(got) != 1 {
		t.Fatalf("%d records, %v", len(got), err)
	}
	if n := len(got[0].Recipients); n != history.MaxRecipients || got[0].RecipientsOmitted != 5 {
		t.Errorf("%d recipients kept, %d omitted; want %d and 5", n, got[0].RecipientsOmitted, history.MaxRecipients)
	}
}
