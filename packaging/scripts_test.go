package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stubs are stand-ins for the commands the maintainer scripts call; each
// logs its arguments. getent and id answer from STUB_USERS / STUB_GROUPS so
// the scripts run without touching this machine's accounts.
var stubs = map[string]string{
	"adduser":   `echo "adduser $*" >>"$STUB_LOG"`,
	"systemctl": `echo "systemctl $*" >>"$STUB_LOG"`,
	"install":   `echo "install $*" >>"$STUB_LOG"`,
	"getent":    `case " $STUB_USERS " in *" $2 "*) echo "$2:x:1:1::/:/bin/false" ;; *) exit 2 ;; esac`,
	"id":        `echo "$STUB_GROUPS"`,
}

// runScript runs packaging/NAME with the stubs first on PATH and returns
// what they logged.
func runScript(t *testing.T, users, groups, name string, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	for cmd, body := range stubs {
		if err := os.WriteFile(filepath.Join(dir, cmd), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	logFile := filepath.Join(dir, "log")
	cmd := exec.Command("sh", append([]string{name}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"),
		"STUB_LOG="+logFile, "STUB_USERS="+users, "STUB_GROUPS="+groups)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	log, _ := os.ReadFile(logFile)
	return string(log)
}

func TestPostinstFreshInstall(t *testing.T) {
	log := runScript(t, "postfix", "postfix", "postinst", "configure", "")
	for _, want := range []string{
		"adduser --quiet --system --group --home /var/lib/spamgate --no-create-home",
		"adduser --quiet postfix spamgate",
		"install -d -o spamgate -g postfix -m 2750 /var/spool/postfix/spamgate",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("fresh install with Postfix did not run %q; ran:\n%s", want, log)
		}
	}
}

// On upgrade the user exists and Postfix is in the group already: no
// adduser; without Postfix there is no group membership or socket
// directory to make.
func TestPostinstIdempotent(t *testing.T) {
	if log := runScript(t, "spamgate postfix", "postfix spamgate", "postinst", "configure", "0.1.0"); strings.Contains(log, "adduser") {
		t.Errorf("upgrade ran adduser again:\n%s", log)
	}
	// The socket directory is made again (install -d is idempotent and
	// repairs owner and mode); with Postfix gone there is no group for it.
	if log := runScript(t, "spamgate", "", "postinst", "configure", ""); strings.Contains(log, "postfix") {
		t.Errorf("without Postfix, postinst still touched it:\n%s", log)
	}
}

// systemctl only when systemd runs; this test cannot fake /run/systemd/system,
// so it checks whichever case the machine is in.
func TestScriptsSystemd(t *testing.T) {
	_, err := os.Stat("/run/systemd/system")
	running := err == nil
	// Not "postrm purge": it would delete this machine's /var/lib/spamgate.
	for _, c := range [][]string{{"postinst", "configure", ""}, {"prerm", "remove"}, {"postrm", "remove"}} {
		log := runScript(t, "spamgate", "", c[0], c[1:]...)
		if got := strings.Contains(log, "systemctl"); got != running {
			t.Errorf("%s %s: systemctl called %v, systemd running %v:\n%s", c[0], c[1], got, running, log)
		}
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		if err := exec.Command("sh", s, "bogus-action").Run(); err == nil {
			t.Errorf("%s accepted an unknown action", s)
		}
	}
}
