package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spamgate/config"
	"spamgate/history"
	"spamgate/internal/miltertest"
	"spamgate/internal/redistest"
)

const historyRules = `
[[policy.rule]]
recipient = "alice@tls.example"
require_tls = true
`

// syncHistory waits until the daemon's history holds what its sessions
// added (the milter replies before the session's record is written).
func syncHistory(t *testing.T, d *Daemon, want int) []history.Record {
	t.Helper()
	st := d.History()
	if st == nil {
		t.Fatal("no decision history")
	}
	var got []history.Record
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		st.(interface{ Sync() }).Sync()
		var err error
		if got, err = st.Query(context.Background(), history.Filter{}); err != nil {
			t.Fatal(err)
		}
		if len(got) >= want {
			return got
		}
	}
	t.Fatalf("%d records in the history, want %d: %+v", len(got), want, got)
	return nil
}

// TestDecisionHistoryThroughMilter: a cleartext transaction refused at
// RCPT for a TLS-only recipient, and one over TLS that is accepted, both
// driven through the real milter, are in the history with their facts;
// the rollout advisor names the cleartext sender; a restart keeps them.
func TestDecisionHistoryThroughMilter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "history")
	tweak := func(c *config.Config) { c.Admin.HistoryDir = dir }
	r := startRigOpts(t, rigOptions{extra: historyRules, tweak: tweak})
	cleartext := miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"alice@tls.example"}, QueueID: "4CLEAR"}
	if got := r.run(t, cleartext).Refused("alice@tls.example"); !strings.HasPrefix(got, "550 5.7.10") {
		t.Fatalf("cleartext to alice: %q", got)
	}
	overTLS := miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"alice@tls.example"}, QueueID: "4TLS",
		TLSVersion: "TLSv1.3", Cipher: "TLS_AES_256_GCM_SHA384", CipherBits: "256"}
	if got := r.run(t, overTLS).Refused("alice@tls.example"); got != "" {
		t.Fatalf("over TLS: %q", got)
	}
	recs := syncHistory(t, r.d, 2)
	// Newest first. The refused transaction has no queue id: Postfix
	// assigns one at the first accepted recipient.
	tls, clear := recs[0], recs[1]
	if tls.QueueID != "4TLS" || clear.QueueID != "" {
		t.Errorf("queue ids %q, %q", tls.QueueID, clear.QueueID)
	}
	if clear.Client != "192.0.2.10" || clear.Sender != "user@good.test" || clear.TLSVersion != "" || len(clear.Recipients) != 1 ||
		clear.Recipients[0].Check != "tls" || !strings.HasPrefix(clear.Recipients[0].Reply, "550 5.7.10") ||
		!strings.Contains(clear.Recipients[0].Rule, "spamgate.toml:") {
		t.Errorf("refused transaction: %+v", clear)
	}
	if tls.TLSVersion != "TLSv1.3" || tls.CipherBits != 256 || len(tls.Recipients) != 1 || tls.Recipients[0].Reply != "" ||
		tls.Reply != "" || tls.SPF == "" {
		t.Errorf("accepted transaction: %+v", tls)
	}
	rows, err := r.d.History().Rollout(context.Background(), "tls.example", time.Time{}, "")
	if err != nil || len(rows) != 1 || rows[0].Client != "192.0.2.10" || rows[0].SenderDomain != "good.test" || rows[0].Count != 1 {
		t.Errorf("rollout: %+v, %v", rows, err)
	}

	// The store's metrics are registered with the daemon's.
	mfs, err := r.d.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	written := -1.0
	for _, mf := range mfs {
		if mf.GetName() == "spamgate_history_records_written_total" {
			written = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if written != 2 {
		t.Errorf("spamgate_history_records_written_total = %v, want 2", written)
	}

	// A restart reads the same directory back.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.d.Shutdown(ctx)
	r2 := startRigOpts(t, rigOptions{extra: historyRules, tweak: tweak})
	if got := syncHistory(t, r2.d, 2); len(got) != 2 {
		t.Errorf("after a restart: %d records", len(got))
	}
}

// TestDecisionHistoryUnavailable: a history_dir that cannot be made
// leaves the history off with a warning; mail flows.
func TestDecisionHistoryUnavailable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "no-parent", "history")
	r := startRigOpts(t, rigOptions{extra: historyRules, tweak: func(c *config.Config) { c.Admin.HistoryDir = dir }})
	if r.d.History() != nil || r.d.Engine().History() != nil {
		t.Fatal("history on without its directory")
	}
	if !strings.Contains(r.logs.String(), "decision history off") {
		t.Errorf("no warning:\n%s", r.logs.String())
	}
	if got := r.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test"}).Refused("alice@example.net"); got != "" {
		t.Errorf("mail refused: %q", got)
	}
	if w := HistoryWarning(r.d.Config().Admin); !strings.Contains(w, "without a decision history") {
		t.Errorf("check-config warning %q", w)
	}
}

// TestDecisionHistoryRedisShared: two MX hosts (two daemons) write to one
// real redis-server; each sees the other's decisions, and a reload keeps
// the history.
func TestDecisionHistoryRedisShared(t *testing.T) {
	srv := redistest.Start(t)
	extra := historyRules + fmt.Sprintf("[admin]\nhistory_store = \"redis\"\n[admin.history_redis]\naddresses = [%q]\n", srv.Addr())
	mx1, mx2 := startRig(t, extra), startRig(t, extra)
	mx1.run(t, miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"alice@tls.example"}, QueueID: "4MX1"})
	if err := mx2.d.Reload(); err != nil {
		t.Fatal(err)
	}
	mx2.run(t, miltertest.Tx{ClientIP: "192.0.2.11", From: "user@good.test", Rcpts: []string{"bob@example.net"}, QueueID: "4MX2"})
	mx1.d.History().(interface{ Sync() }).Sync()
	for _, mx := range []*rig{mx1, mx2} {
		got := syncHistory(t, mx.d, 2)
		if len(got) != 2 || got[0].Client != "192.0.2.11" || got[1].Client != "192.0.2.10" {
			t.Errorf("got %+v, want both hosts' transactions, newest first", got)
		}
	}
}
