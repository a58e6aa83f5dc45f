package daemon

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"spamgate/internal/miltertest"
	"spamgate/internal/redistest"
)

// greylistTable is a [greylist] table with a 1 s delay.
func greylistTable(mode, store, redisAddr, more string) string {
	s := fmt.Sprintf("[greylist]\nmode = %q\ndelay = \"1s\"\nstore = %q\ntimeout = \"200ms\"\n%s", mode, store, more)
	if redisAddr != "" {
		s += fmt.Sprintf("[greylist.redis]\naddresses = [%q]\n", redisAddr)
	}
	return s
}

const (
	replyGreylisted = "451 4.7.1 Greylisted, please try again in 1 seconds"
	replyStoreDown  = "451 4.3.0 Temporary failure, please try again later"
	// glWait is a little more than the 1 s delay.
	glWait = 1100 * time.Millisecond
)

// suspiciousTx comes from a client without reverse DNS; SPF passes
// (good.test authorizes 192.0.2.0/24), so it is only suspicious.
func suspiciousTx(rcpt string) miltertest.Tx {
	return miltertest.Tx{ClientIP: "192.0.2.20", From: "user@good.test", Rcpts: []string{rcpt}}
}

func wantReply(t *testing.T, res *miltertest.Result, rcpt, want, what string) {
	t.Helper()
	if got := res.Refused(rcpt); got != want {
		t.Errorf("%s: RCPT %s got %q, want %q", what, rcpt, got, want)
	}
}

// wantAccepted checks that rcpt was accepted and the message got its
// Authentication-Results at end of message.
func wantAccepted(t *testing.T, res *miltertest.Result, rcpt, what string) {
	t.Helper()
	wantReply(t, res, rcpt, "", what)
	ar := res.Header("Authentication-Results")
	if len(ar) != 1 || !strings.Contains(ar[0], "spf=pass smtp.mailfrom=user@good.test") {
		t.Errorf("%s: Authentication-Results %q", what, ar)
	}
}

// The greylisting cycle of case 1 on r (and, when other is set, the retry
// after the delay on other).
func greylistCycle(t *testing.T, r, other *rig, rcpt string) {
	t.Helper()
	tx := suspiciousTx(rcpt)
	start := time.Now()
	wantReply(t, r.run(t, tx), rcpt, replyGreylisted, "first attempt")
	wantReply(t, r.run(t, tx), rcpt, replyGreylisted, "immediate retry")
	if other == nil {
		other = r
	} else {
		wantReply(t, other.run(t, tx), rcpt, replyGreylisted, "immediate retry via the other daemon")
	}
	time.Sleep(glWait - time.Since(start))
	wantAccepted(t, other.run(t, tx), rcpt, "retry after the delay")
	// The triplet stays passed, on both daemons.
	wantAccepted(t, r.run(t, tx), rcpt, "later message")
}

func TestGreylistRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r := startRigWith(t, greylistTable("suspicious", "redis", srv.Addr(), ""), "")
	const rcpt = "carol@example.net"
	greylistCycle(t, r, nil, rcpt)

	// No address in clear in Redis, and nothing without a TTL.
	ctx := context.Background()
	c := srv.Client()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("no key in Redis after greylisting")
	}
	for _, k := range keys {
		for _, clear := range []string{"good.test", "192.0.2", rcpt, "carol", "example.net"} {
			if strings.Contains(k, clear) {
				t.Errorf("key %q contains %q in clear", k, clear)
			}
		}
		if !strings.HasPrefix(k, "spamgate:gl:") {
			t.Errorf("key %q lacks the key prefix", k)
		}
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 {
			t.Errorf("key %q has no TTL (%v)", k, ttl)
		}
		if typ := c.Type(ctx, k).Val(); typ == "hash" {
			vals, err := c.HGetAll(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			for f, v := range vals {
				if strings.Contains(f+v, "good.test") || strings.Contains(f+v, "192.0.2") || strings.Contains(f+v, "example.net") {
					t.Errorf("key %q field %q=%q holds an address in clear", k, f, v)
				}
			}
		}
	}
}

func TestGreylistMemoryStore(t *testing.T) {
	t.Parallel()
	// store = "memory" is the default: leave it out.
	r := startRigWith(t, "[greylist]\nmode = \"suspicious\"\ndelay = \"1s\"\n", "")
	greylistCycle(t, r, nil, "dave@example.net")
}

// Two MX hosts share one Redis: a retry that reaches the other one passes.
func TestGreylistTwoDaemonsShareRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	a := startRigWith(t, greylistTable("suspicious", "redis", srv.Addr(), ""), "")
	b := startRigWith(t, greylistTable("suspicious", "redis", srv.Addr(), ""), "")
	greylistCycle(t, a, b, "erin@example.net")
}

// Clients that are not suspicious are not greylisted in mode suspicious,
// unless a recipient's rule says "always"; the null sender and postmaster
// never are.
func TestGreylistWhoIsGreylisted(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r := startRigWith(t, greylistTable("suspicious", "redis", srv.Addr(), ""),
		"\n[[policy.rule]]\nrecipient = \"strict.example\"\ngreylist = \"always\"\n")

	good := miltertest.Tx{ClientIP: "192.0.2.10", From: "user@good.test", Rcpts: []string{"alice@example.net", "sam@strict.example"}}
	res := r.run(t, good)
	wantReply(t, res, "alice@example.net", "", "fcrDNS + SPF pass client")
	wantReply(t, res, "sam@strict.example", replyGreylisted, "fcrDNS + SPF pass client to a greylist=always recipient")

	for _, tc := range []struct {
		name, ip, from, want string
	}{
		// Forward-confirmed and SPF pass: never suspicious, even with a
		// dynamic-looking name (engine.suspicion).
		{"dynamic rDNS, SPF pass", "192.0.2.77", "user@good.test", ""},
		{"dynamic rDNS, SPF none", "192.0.2.77", "user@aonly.test", replyGreylisted},
		{"unconfirmed rDNS", "192.0.2.78", "user@good.test", replyGreylisted},
		{"no rDNS", "192.0.2.21", "user@good.test", replyGreylisted},
	} {
		tx := miltertest.Tx{ClientIP: tc.ip, From: tc.from, Rcpts: []string{"zoe@example.net"}}
		wantReply(t, r.run(t, tx), "zoe@example.net", tc.want, tc.name)
	}

	// The null sender (bounces) and postmaster/abuse are exempt, even from
	// a suspicious client and for a greylist=always recipient.
	exempt := []miltertest.Tx{
		{ClientIP: "192.0.2.22", From: "", Rcpts: []string{"alice@example.net", "sam@strict.example"}},
		{ClientIP: "192.0.2.22", From: "user@good.test", Rcpts: []string{"postmaster@example.net", "Postmaster@strict.example", "abuse@example.net"}},
	}
	for _, tx := range exempt {
		res := r.run(t, tx)
		for _, rcpt := range tx.Rcpts {
			wantReply(t, res, rcpt, "", fmt.Sprintf("exempt <%s> -> <%s>", tx.From, rcpt))
		}
	}
}

// When Redis cannot be asked, on_store_error decides, within the store
// timeout; once Redis is back, greylisting works again.
func TestGreylistStoreFault(t *testing.T) {
	t.Parallel()
	for _, onErr := range []string{"accept", "tempfail"} {
		t.Run(onErr, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t)
			r := startRigWith(t, greylistTable("suspicious", "redis", srv.Addr(),
				fmt.Sprintf("on_store_error = %q\n", onErr)), "")
			want := ""
			if onErr == "tempfail" {
				want = replyStoreDown
			}

			// A crashed Redis: connections are refused.
			srv.Kill()
			start := time.Now()
			res := r.run(t, suspiciousTx("kim@example.net"))
			wantReply(t, res, "kim@example.net", want, "Redis killed")
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("transaction with Redis killed took %v", d)
			}
			if onErr == "accept" {
				wantAccepted(t, res, "kim@example.net", "Redis killed, accepted")
				if logs := r.logs.String(); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, `msg="greylist store"`) {
					t.Errorf("no warning logged for the store error")
				}
			}

			// A hung Redis: the store timeout (200ms) bounds the wait.
			srv.Restart()
			srv.Pause()
			start = time.Now()
			wantReply(t, r.run(t, suspiciousTx("lou@example.net")), "lou@example.net", want, "Redis paused")
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("transaction with Redis paused took %v", d)
			}
			srv.Resume()

			// Two failures do not open the breaker (5 do): greylisting
			// works again at once.
			wantReply(t, r.run(t, suspiciousTx("max@example.net")), "max@example.net", replyGreylisted, "Redis back")
			if err := r.d.Engine().Greylist().Healthy(); err != nil {
				t.Errorf("greylist unhealthy after Redis came back: %v", err)
			}

			// Enough failures open the breaker: it answers at once,
			// without waiting on the store, and the daemon keeps serving.
			srv.Kill()
			for i := range 6 {
				rcpt := fmt.Sprintf("n%d@example.net", i)
				wantReply(t, r.run(t, suspiciousTx(rcpt)), rcpt, want, "breaker")
			}
			if err := r.d.Engine().Greylist().Healthy(); err == nil {
				t.Error("greylist healthy with Redis down and the breaker open")
			}
			wantReply(t, r.run(t, miltertest.Tx{ClientIP: "192.0.2.99", From: "user@good.test", Rcpts: []string{"o@example.net"}}),
				"o@example.net", "554 5.7.1 Service unavailable; client [192.0.2.99] blocked using bl.test", "DNSBL with the breaker open")
		})
	}
}

// TestGreylistRedisRepeatSender: once Redis let a triplet pass, the
// daemon's next messages with it do not ask Redis (the checker's pass
// cache), while a triplet it has not seen pass still does.
func TestGreylistRedisRepeatSender(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r := startRigWith(t, greylistTable("suspicious", "redis", srv.Addr(), ""), "")
	const rcpt = "frank@example.net"
	greylistCycle(t, r, nil, rcpt)
	checks := func() int {
		t.Helper()
		info, err := srv.Client().Info(context.Background(), "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for line := range strings.SplitSeq(info, "\n") {
			// cmdstat_evalsha:calls=3,usec=… (and eval, the first time)
			if name, rest, ok := strings.Cut(line, ":calls="); ok && (name == "cmdstat_evalsha" || name == "cmdstat_eval") {
				var calls int
				fmt.Sscanf(rest, "%d", &calls)
				n += calls
			}
		}
		return n
	}
	before := checks()
	if before == 0 {
		t.Fatal("no check script call counted in Redis after the greylisting cycle")
	}
	for i := range 3 {
		wantAccepted(t, r.run(t, suspiciousTx(rcpt)), rcpt, fmt.Sprintf("repeat %d", i+1))
	}
	if n := checks(); n != before {
		t.Errorf("the passed triplet's repeats made %d check calls to Redis, want 0", n-before)
	}
	const other = "grace@example.net"
	wantReply(t, r.run(t, suspiciousTx(other)), other, replyGreylisted, "a new triplet")
	if n := checks(); n != before+1 {
		t.Errorf("a new triplet made %d check calls to Redis, want 1", n-before)
	}
}
