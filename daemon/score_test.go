package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"spamgate/checks"
	"spamgate/engine"
	"spamgate/internal/miltertest"
	"spamgate/internal/spamdtest"
)

const scoreGTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

const scoreReplyReject = "550 5.7.1 Message rejected as spam"

// scoreSoftfailZone: an SPF softfail domain without DMARC, for the suspicious
// message.
const scoreSoftfailZone = `
soft.test.      300 IN MX  10 mx.good.test.
soft.test.      300 IN TXT "v=spf1 ~all"
`

// scoreCleanTx is a message from a well-configured client: forward-confirmed
// reverse DNS, a HELO that resolves, SPF pass, Date and Message-ID.
func scoreCleanTx() miltertest.Tx {
	return miltertest.Tx{ClientIP: "192.0.2.10", Helo: "helo.good.test", From: "user@good.test",
		Rcpts: []string{"alice@example.net"},
		Headers: [][2]string{
			{"From", " <user@good.test>"},
			{"Date", " Mon, 23 Nov 2026 10:00:00 +0000"},
			{"Message-ID", " <1@good.test>"},
			{"Subject", " hello"},
		},
		Body: "Hello Alice,\r\n\r\nsee you tomorrow.\r\n"}
}

// scoreSpamTx: no reverse DNS (1.5), a HELO that does not resolve (0.8),
// SPF softfail (1.5), no Message-ID (0.5), no Date (0.5): 4.8 points with
// the default points.
func scoreSpamTx(rcpts ...string) miltertest.Tx {
	if len(rcpts) == 0 {
		rcpts = []string{"alice@example.net"}
	}
	return miltertest.Tx{ClientIP: "192.0.2.50", Helo: "no-such-host.nowhere.test", From: "user@soft.test",
		Rcpts:   rcpts,
		Headers: [][2]string{{"From", " <user@soft.test>"}, {"Subject", " cheap stuff"}},
		Body:    "buy now\r\n"}
}

var scoreSpamRules = []string{"SG_HELO_UNRESOLVABLE", "SG_MISSING_DATE", "SG_MISSING_MID", "SG_RDNS_NONE", "SG_SPF_SOFTFAIL"}

func startScoreRig(t *testing.T, extra string) *rig {
	t.Helper()
	r := startRig(t, extra)
	if err := r.zone.AddText(scoreSoftfailZone); err != nil {
		t.Fatal(err)
	}
	return r
}

// scoreUnfold undoes header folding and the leading space, for comparisons.
func scoreUnfold(v string) string { return strings.Join(strings.Fields(v), " ") }

// scoreOneHeader returns the single inserted field called name, unfolded.
func scoreOneHeader(t *testing.T, res *miltertest.Result, name string) string {
	t.Helper()
	vs := res.Header(name)
	if len(vs) != 1 {
		t.Fatalf("want one %s field, got %q (edits %+v)", name, vs, res.Mods)
	}
	return scoreUnfold(vs[0])
}

// scoreFinalReply is the end-of-message reply as "CODE TEXT", "" when the
// message is accepted.
func scoreFinalReply(t *testing.T, res *miltertest.Result) string {
	t.Helper()
	switch {
	case res.Final == nil:
		t.Fatal("no end-of-message reply (no recipient accepted?)")
	case res.Final.Code == gomilter.ActReplyCode:
		return fmt.Sprintf("%d %s", res.Final.SMTPCode, res.Final.SMTPText)
	case res.Final.Code != gomilter.ActAccept && res.Final.Code != gomilter.ActContinue:
		return fmt.Sprintf("action %c", res.Final.Code)
	}
	return ""
}

// scoreStatusTests returns the tests= list of an X-Spam-Status value.
func scoreStatusTests(status string) []string {
	_, rest, ok := strings.Cut(status, "tests=")
	if !ok {
		return nil
	}
	// Folding may break the list after a comma.
	list, _, _ := strings.Cut(rest, " autolearn=")
	return strings.Split(strings.ReplaceAll(list, " ", ""), ",")
}

// scoreReport runs tx through the rig's engine with a Report, as explain
// does but with the body: what the milter protocol does not show.
func scoreReport(t *testing.T, r *rig, tx miltertest.Tx) (*engine.Report, *checks.Reply) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep := &engine.Report{}
	s := r.d.Engine().NewSession(ctx, "report")
	defer s.Close()
	s.Record(rep)
	s.Connect(engine.Client{Addr: netip.MustParseAddr(tx.ClientIP), Hostname: "unknown"})
	s.Helo(tx.Helo)
	s.Mail(tx.From)
	accepted := 0
	for _, rcpt := range tx.Rcpts {
		if s.Rcpt(rcpt) == nil {
			accepted++
		}
	}
	if accepted == 0 {
		t.Fatalf("no recipient accepted: %+v", rep.Recipients)
	}
	for _, h := range tx.Headers {
		s.Header(h[0], h[1])
	}
	s.EndHeaders()
	s.Body([]byte(tx.Body))
	_, reply := s.End()
	return rep, reply
}

func scoreHitNames(rep *engine.Report) []string {
	if rep.Score == nil {
		return nil
	}
	var names []string
	for _, h := range rep.Score.Hits {
		names = append(names, h.Name)
	}
	slices.Sort(names)
	return names
}

func TestScoreCleanMessage(t *testing.T) {
	r := startScoreRig(t, "")
	res := r.run(t, scoreCleanTx())
	if got := scoreFinalReply(t, res); got != "" {
		t.Fatalf("clean message refused: %q", got)
	}
	if flag := res.Header("X-Spam-Flag"); len(flag) != 0 {
		t.Errorf("clean message flagged: %q", flag)
	}
	status := scoreOneHeader(t, res, "X-Spam-Status")
	if !strings.HasPrefix(status, "No, score=0.0 required=4.5 tests=none autolearn=disabled version=") {
		t.Errorf("X-Spam-Status: %q", status)
	}
	if got := scoreOneHeader(t, res, "X-Spam-Score"); got != "0.0" {
		t.Errorf("X-Spam-Score: %q", got)
	}
	if ar := scoreOneHeader(t, res, "Authentication-Results"); !strings.Contains(ar, "spf=pass smtp.mailfrom=user@good.test") ||
		!strings.Contains(ar, "iprev=pass") {
		t.Errorf("Authentication-Results: %q", ar)
	}
}

func TestScoreTagLevel(t *testing.T) {
	r := startScoreRig(t, "[score]\ntag_level = 2\nsubject_tag = \"***SPAM***\"\n")
	res := r.run(t, scoreSpamTx())
	if got := scoreFinalReply(t, res); got != "" {
		t.Fatalf("message refused: %q", got)
	}
	if got := scoreOneHeader(t, res, "X-Spam-Flag"); got != "YES" {
		t.Errorf("X-Spam-Flag: %q", got)
	}
	status := scoreOneHeader(t, res, "X-Spam-Status")
	if !strings.HasPrefix(status, "Yes, score=4.8 required=2.0 tests=") {
		t.Errorf("X-Spam-Status: %q", status)
	}
	if got := scoreStatusTests(status); !slices.Equal(got, scoreSpamRules) {
		t.Errorf("tests %q, want %q", got, scoreSpamRules)
	}
	if got := scoreOneHeader(t, res, "X-Spam-Level"); got != "****" {
		t.Errorf("X-Spam-Level: %q", got)
	}
	// Inserted at the top one after the other: the order of the edits is
	// the reverse of SpamAssassin's Flag, Score, Level, Status.
	var order []string
	for _, m := range res.Mods {
		if m.Code == gomilter.ActInsertHeader && strings.HasPrefix(m.HeaderName, "X-Spam-") {
			order = append(order, m.HeaderName)
			if m.HeaderIndex != 0 {
				t.Errorf("%s inserted at %d, want 0", m.HeaderName, m.HeaderIndex)
			}
		}
	}
	if want := []string{"X-Spam-Status", "X-Spam-Level", "X-Spam-Score", "X-Spam-Flag"}; !slices.Equal(order, want) {
		t.Errorf("insert order %q, want %q", order, want)
	}
	var subject []gomilter.ModifyAction
	for _, m := range res.Mods {
		if m.Code == gomilter.ActChangeHeader && strings.EqualFold(m.HeaderName, "Subject") {
			subject = append(subject, m)
		}
	}
	if len(subject) != 1 || subject[0].HeaderIndex != 1 || subject[0].HeaderValue != " ***SPAM*** cheap stuff" {
		t.Errorf("Subject edits %+v, want one change of field 1 to \" ***SPAM*** cheap stuff\"", subject)
	}

	// A clean message is neither flagged nor has its Subject touched.
	res = r.run(t, scoreCleanTx())
	for _, m := range res.Mods {
		if m.Code == gomilter.ActChangeHeader || strings.EqualFold(m.HeaderName, "X-Spam-Flag") {
			t.Errorf("clean message got edit %+v", m)
		}
	}
	if status := scoreOneHeader(t, res, "X-Spam-Status"); !strings.HasPrefix(status, "No, score=0.0 required=2.0 ") {
		t.Errorf("X-Spam-Status: %q", status)
	}
}

// X-Spam-* fields from outside could pretend a verdict: all are deleted
// (1-based index per name, last first) before ours are added.
func TestScoreForeignSpamFieldsDeleted(t *testing.T) {
	r := startScoreRig(t, "")
	tx := scoreCleanTx()
	tx.Headers = [][2]string{
		{"X-Spam-Flag", " NO"},
		{"From", " <user@good.test>"},
		{"X-Spam-Status", " No, score=-100.0 required=5.0"},
		{"Date", " Mon, 23 Nov 2026 10:00:00 +0000"},
		{"x-spam-flag", " NO"},
		{"Message-ID", " <2@good.test>"},
		{"X-Spam-Status", " No"},
		{"Subject", " hello"},
	}
	res := r.run(t, tx)
	var deleted []string
	for _, m := range res.Mods {
		if m.Code == gomilter.ActChangeHeader && m.HeaderValue == "" {
			deleted = append(deleted, fmt.Sprintf("%s:%d", strings.ToLower(m.HeaderName), m.HeaderIndex))
		}
	}
	want := []string{"x-spam-status:2", "x-spam-flag:2", "x-spam-status:1", "x-spam-flag:1"}
	if !slices.Equal(deleted, want) {
		t.Errorf("deleted %q, want %q (edits %+v)", deleted, want, res.Mods)
	}
	// The deletions come before our inserts, so that their indexes count
	// the message's own fields only.
	firstInsert := slices.IndexFunc(res.Mods, func(m gomilter.ModifyAction) bool { return m.Code == gomilter.ActInsertHeader })
	lastDelete := -1
	for i, m := range res.Mods {
		if m.Code == gomilter.ActChangeHeader && m.HeaderValue == "" {
			lastDelete = i
		}
	}
	if firstInsert < lastDelete {
		t.Errorf("an insert (edit %d) comes before a deletion (edit %d)", firstInsert, lastDelete)
	}
	if status := scoreOneHeader(t, res, "X-Spam-Status"); !strings.HasPrefix(status, "No, score=0.0 ") {
		t.Errorf("our X-Spam-Status: %q", status)
	}
}

func TestScoreKillLevel(t *testing.T) {
	t.Run("reject", func(t *testing.T) {
		r := startScoreRig(t, "[score]\ntag_level = 2\nkill_level = 3\n")
		res := r.run(t, scoreSpamTx())
		if got := res.Refused("alice@example.net"); got != "" {
			t.Fatalf("refused at RCPT: %q", got)
		}
		if got := scoreFinalReply(t, res); got != scoreReplyReject {
			t.Errorf("end of message: %q, want %q", got, scoreReplyReject)
		}
		if len(res.Mods) != 0 {
			t.Errorf("a refused message got edits %+v", res.Mods)
		}
		// Below the kill level: accepted.
		if got := scoreFinalReply(t, r.run(t, scoreCleanTx())); got != "" {
			t.Errorf("clean message: %q", got)
		}
	})
	t.Run("quarantine", func(t *testing.T) {
		r := startScoreRig(t, "[score]\ntag_level = 2\nkill_level = 3\nkill_action = \"quarantine\"\n")
		res := r.run(t, scoreSpamTx())
		if got := scoreFinalReply(t, res); got != "" {
			t.Fatalf("end of message: %q, want accepted into quarantine", got)
		}
		var reasons []string
		for _, m := range res.Mods {
			if m.Code == gomilter.ActQuarantine {
				reasons = append(reasons, m.Reason)
			}
		}
		if len(reasons) != 1 || reasons[0] != "spam score 4.8" {
			t.Errorf("quarantine edits %q, want one with \"spam score 4.8\"", reasons)
		}
		if got := scoreOneHeader(t, res, "X-Spam-Flag"); got != "YES" {
			t.Errorf("X-Spam-Flag: %q", got)
		}
	})
}

// One message goes to every recipient: the most lenient levels of the
// accepted recipients apply, whatever their order.
func TestScorePerRecipientLevels(t *testing.T) {
	r := startScoreRig(t, `[score]
tag_level = 2
kill_level = 3

[[policy.rule]]
recipient = "vip@example.net"
kill_level = 10

[[policy.rule]]
recipient = "lenient@example.net"
tag_level = 6
kill_level = 12
`)
	for _, c := range []struct {
		rcpts  []string
		reply  string
		status string // X-Spam-Status prefix when kept
	}{
		{[]string{"alice@example.net"}, scoreReplyReject, ""},
		{[]string{"vip@example.net"}, "", "Yes, score=4.8 required=2.0 "},
		{[]string{"alice@example.net", "vip@example.net"}, "", "Yes, score=4.8 required=2.0 "},
		{[]string{"vip@example.net", "alice@example.net"}, "", "Yes, score=4.8 required=2.0 "},
		{[]string{"alice@example.net", "lenient@example.net", "vip@example.net"}, "", "No, score=4.8 required=6.0 "},
		{[]string{"lenient@example.net", "alice@example.net"}, "", "No, score=4.8 required=6.0 "},
	} {
		t.Run(strings.Join(c.rcpts, ","), func(t *testing.T) {
			res := r.run(t, scoreSpamTx(c.rcpts...))
			if got := scoreFinalReply(t, res); got != c.reply {
				t.Fatalf("end of message: %q, want %q", got, c.reply)
			}
			if c.reply != "" {
				return
			}
			if status := scoreOneHeader(t, res, "X-Spam-Status"); !strings.HasPrefix(status, c.status) {
				t.Errorf("X-Spam-Status %q, want prefix %q", status, c.status)
			}
		})
	}
}

func TestScoreSpamd(t *testing.T) {
	spamd := spamdtest.Start(t)
	r := startScoreRig(t, fmt.Sprintf(`[score]
[score.spamd]
enabled = true
address = %q
timeout = "10s"
`, spamd.Addr()))
	gtubeTx := scoreCleanTx()
	gtubeTx.Body = "This is the GTUBE, the Generic Test for Unsolicited Bulk Email.\r\n\r\n" + scoreGTUBE + "\r\n"

	t.Run("gtube rejected", func(t *testing.T) {
		res := r.run(t, gtubeTx)
		if got := scoreFinalReply(t, res); got != scoreReplyReject {
			t.Errorf("end of message: %q, want %q", got, scoreReplyReject)
		}
		rep, reply := scoreReport(t, r, gtubeTx)
		if reply == nil || reply.Code != 550 {
			t.Errorf("report run: reply %v, want 550", reply)
		}
		if rep.Score == nil {
			t.Fatal("no score in the report")
		}
		var spamdPoints float64
		for _, h := range rep.Score.Hits {
			if h.Name == "SPAMD" {
				spamdPoints = h.Points
			}
		}
		if spamdPoints < 1000 || rep.Score.Total < 1000 || rep.Score.Kill != 16 {
			t.Errorf("score %+v: want SPAMD ≥ 1000 over kill level 16", rep.Score)
		}
	})

	t.Run("normal message with spamd", func(t *testing.T) {
		res := r.run(t, scoreCleanTx())
		if got := scoreFinalReply(t, res); got != "" {
			t.Fatalf("end of message: %q", got)
		}
		if status := scoreOneHeader(t, res, "X-Spam-Status"); !strings.HasPrefix(status, "No, ") || !slices.Contains(scoreStatusTests(status), "SPAMD") {
			t.Errorf("X-Spam-Status %q: want No with SPAMD among the tests", status)
		}
	})

	spamd.Kill()
	t.Run("spamd down", func(t *testing.T) {
		t0 := time.Now()
		res := r.run(t, scoreCleanTx())
		if el := time.Since(t0); el > 5*time.Second {
			t.Errorf("took %v with spamd down", el)
		}
		if got := scoreFinalReply(t, res); got != "" {
			t.Fatalf("end of message with spamd down: %q, want accepted", got)
		}
		if status := scoreOneHeader(t, res, "X-Spam-Status"); !strings.HasPrefix(status, "No, score=0.0 required=4.5 tests=none ") {
			t.Errorf("X-Spam-Status %q: want our own score only", status)
		}
		// Our own points still count with spamd down.
		rep, _ := scoreReport(t, r, scoreSpamTx())
		if got := scoreHitNames(rep); !slices.Equal(got, scoreSpamRules) {
			t.Errorf("hits %q, want %q", got, scoreSpamRules)
		}
	})
}
