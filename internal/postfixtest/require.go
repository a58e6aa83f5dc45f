package postfixtest

import (
	"fmt"
	"os"
	"os/user"
	"strings"
	"testing"
)

// Paths of the Postfix programs the rig and the tests built on it run (smtp-source is for
// load tests), as Debian 12's postfix package installs them. They are absolute on purpose:
// /usr/sbin and /usr/lib/postfix/sbin are often not on a test runner's PATH.
const (
	masterBin   = "/usr/lib/postfix/sbin/master"
	postfixBin  = "/usr/sbin/postfix"
	postconfBin = "/usr/sbin/postconf"
	sinkBin     = "/usr/sbin/smtp-sink"
	sourceBin   = "/usr/sbin/smtp-source"
	// postqueueBin lists a queue (Postfix.Queued).
	postqueueBin = "/usr/sbin/postqueue"
	// unshareBin (util-linux, always on Debian) runs master in a mount namespace of its
	// own for Options.ResolvConf.
	unshareBin = "/usr/bin/unshare"
)

// installHint is what a developer runs to get the rig's dependencies.
const installHint = "run scripts/test-deps.sh as root (make deps), or: apt-get update && " +
	"DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix"

// Require fails the test (it never skips: a skipped integration test looks like a passed
// one in CI) when the Postfix programs, the postfix user or root privileges are missing.
func Require(t testing.TB) {
	t.Helper()
	if problems := missing(); len(problems) > 0 {
		t.Fatalf("postfixtest: cannot run Postfix here: %s; %s",
			strings.Join(problems, "; "), installHint)
	}
}

// missing lists what keeps Postfix from running on this machine.
func missing() []string {
	var problems []string
	for _, bin := range []string{masterBin, postfixBin, postconfBin, sinkBin, sourceBin} {
		if _, err := os.Stat(bin); err != nil {
			problems = append(problems, fmt.Sprintf("%s not found", bin))
		}
	}
	if _, err := user.Lookup(mailOwner); err != nil {
		problems = append(problems, fmt.Sprintf("user %q not found", mailOwner))
	}
	if _, err := user.LookupGroup(setgidGroup); err != nil {
		problems = append(problems, fmt.Sprintf("group %q not found", setgidGroup))
	}
	// Postfix's master and smtp-sink's dump mode both need the superuser.
	if os.Geteuid() != 0 {
		problems = append(problems, "tests must run as root (Postfix's master requires it)")
	}
	return problems
}
