package soak

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"spamgate/internal/mtarig"
	"spamgate/internal/postfixtest"
	"spamgate/internal/redistest"
)

// ---- spamgate as a process that can be killed and restarted ----

// dnsTimeout is spamgate's [dns] timeout; each query is tried twice.
const dnsTimeout = 300 * time.Millisecond

// buildSpamgate builds cmd/spamgate (without the race detector: this is a
// load test). SPAMGATE_SOAK_BIN names a binary to use instead.
func buildSpamgate(t *testing.T) string {
	return mtarig.BuildSpamgate(t, "SPAMGATE_SOAK_BIN", false)
}

// startSpamgate runs spamgate with every check on, as bench/postfix's rig
// does, on a fixed loopback port, so that a restarted process takes over
// where the killed one was and Postfix's smtpd_milters stays right. The
// configuration differs for the soak: no DNS cache (every message asks the
// DNS server about ten questions, so that a DNS fault reaches the traffic at
// once rather than when a cached answer expires), a short DNS timeout (so
// that a slow DNS costs a message about a second, not four), and a
// greylisting delay of one second (every triplet is greylisted once per
// redis-server incarnation, and the client's retry passes it). It returns
// once both DNSBL zones passed their health check, so that the first
// messages see every check. At the end of the test spamgate is killed.
func startSpamgate(t *testing.T, bin, dnsAddr, redisAddr string) *mtarig.Spamgate {
	t.Helper()
	p := mtarig.NewSpamgate(t, bin, mtarig.Config{
		Listen:          net.JoinHostPort("127.0.0.1", strconv.Itoa(redistest.FreePort(t))),
		CheckTimeout:    "5s",
		Nameserver:      dnsAddr,
		DNSTimeout:      dnsTimeout.String(),
		CacheSize:       -1,
		HealthInterval:  "1m",
		Redis:           redisAddr,
		GreylistDelay:   "1s",
		GreylistTimeout: "200ms",
		OnStoreError:    "accept",
		HistoryDir:      filepath.Join(t.TempDir(), "history"),
	})
	t.Cleanup(func() { p.Kill(t) }) // runs before NewSpamgate's (SIGTERM) cleanup
	p.Start(t)
	p.WaitHealthy(t)
	return p
}

// ---- DNS and Postfix ----

// startPostfix runs Postfix with bench/postfix's tuning (nothing throttles
// the load on purpose) and README.md's milter settings (a broken milter
// shows as 4xx, never as mail that passed unchecked or was lost), relaying
// to relay.
func startPostfix(t *testing.T, milter, relay string) *postfixtest.Postfix {
	t.Helper()
	return mtarig.StartPostfix(t, "inet:"+milter, relay, map[string]string{"max_use": "10000"})
}

// queueFiles counts the messages in the instance's queue (incoming, active,
// deferred, hold, maildrop): 0 once everything was delivered.
func queueFiles(pf *postfixtest.Postfix) (int, error) {
	n := 0
	for _, q := range []string{"incoming", "active", "deferred", "hold", "maildrop"} {
		err := filepath.WalkDir(filepath.Join(pf.Dir, "queue", q), func(_ string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				n++
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			return 0, err
		}
	}
	return n, nil
}

// ---- CPU accounting, from /proc ----

// selfCPU is this test process's CPU time: the client, the sink, the DNS
// server.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
