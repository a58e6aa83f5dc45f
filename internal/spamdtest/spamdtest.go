// Package spamdtest runs a real, throwaway spamd (Debian's SpamAssassin
// daemon) on a loopback port for tests: started on a free port, waited for
// until it answers PING, killed when the test ends. It fails the test, never
// skips it, when spamd is missing.
//
// The daemon is made fast and deterministic: the rules are the ones the
// Debian package ships (/usr/share/spamassassin, not whatever sa-update may
// have fetched), no DNS or network tests, no Bayes, no per-user config.
package spamdtest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"spamgate/internal/proctest"
)

const (
	// Binary is Debian's spamd, absolute on purpose: /usr/sbin is not on
	// every test runner's PATH.
	Binary = "/usr/sbin/spamd"
	// RulesDir holds the rules of the Debian package. Naming it pins the
	// tests to them even where sa-update has run; it needs no network.
	RulesDir = "/usr/share/spamassassin"
	// preDir holds the .pre files that load the plugins (the Check plugin
	// above all, without which spamd cannot scan). They come with the
	// spamassassin package as conffiles of /etc/spamassassin.
	preDir = "/etc/spamassassin"
	// startTimeout bounds spamd's start: it compiles every rule first,
	// about 2 s of CPU; on a 2-core machine busy with other tests it was
	// seen to take 30 s.
	startTimeout = 90 * time.Second
)

// installHint is what a developer runs to get spamd.
const installHint = "run sh scripts/test-deps.sh as root (make deps), or: apt-get update && " +
	"DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends spamassassin spamd"

// localCF turns off what would make results depend on the network or on
// earlier test runs.
const localCF = `# written by spamdtest
use_bayes 0
bayes_auto_learn 0
skip_rbl_checks 1
dns_available no
use_razor2 0
use_pyzor 0
required_score 5.0
`

// Server is a throwaway spamd on a loopback port.
type Server struct {
	proctest.Server // Port, Addr, Kill (spamd and its children), Restart, Pause, Resume
	t               testing.TB
	dir             string
}

// Start runs spamd on a free loopback port and waits until it answers PING.
// It fails the test, never skips it, when spamd is not installed: a skipped
// test looks like a passed one in CI.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("spamd is needed for these tests: %v; %s", err, installHint)
	}
	s := &Server{t: t, dir: configDir(t)}
	t.Cleanup(func() { // the log of a failed test, before it is removed
		if t.Failed() {
			t.Logf("spamd log:\n%s", s.Log())
		}
	})
	if err := s.Run(t, "spamd", s.launch); err != nil {
		t.Fatalf("%v", err)
	}
	return s
}

// Log is what spamd wrote so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "spamd.log"))
	return string(b)
}
