package postfixtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"spamgate/internal/testcert"
)

// Options configure one Postfix instance.
type Options struct {
	// Milter is the smtpd_milters value, e.g. "inet:127.0.0.1:PORT" or "unix:/path";
	// "" runs no milter.
	Milter string
	// MainCF holds extra or overriding main.cf parameters (milter_protocol,
	// milter_rcpt_macros, smtpd_tls_*, smtpd_peername_lookup, ...).
	MainCF map[string]string
	// TLS offers STARTTLS on the test smtpd with a throwaway self-signed certificate.
	TLS bool
	// Relay is the next hop "127.0.0.1:PORT" (a Sink's Addr): all mail is relayed there.
	// "" discards accepted mail.
	Relay string
	// ResolvConf, when set, is a resolv.conf file the instance's programs read instead of
	// /etc/resolv.conf: master runs in a private mount namespace (unshare -m) where that
	// file is bind-mounted over /etc/resolv.conf, and every daemon it forks inherits it.
	// Postfix's smtp asks the system resolver (res_search), which has no setting of its
	// own for the server or port, so this is how a test points MX, A and TLSA lookups at
	// a test resolver (listening on port 53 of a loopback address). The machine's
	// /etc/resolv.conf is not touched. Set smtp_dns_support_level in MainCF to use it.
	ResolvConf string
}

// Postfix is a running instance.
type Postfix struct {
	SMTPAddr string // 127.0.0.1:PORT of its smtpd
	Dir      string // instance directory: etc/ (main.cf, master.cf), queue/, data/, maillog

	layout layout
}

// startTimeout bounds how long an instance may take to answer; it normally takes a few
// hundred milliseconds.
const startTimeout = 15 * time.Second

// Start runs a private Postfix for the test and stops it, removing every file, when the
// test ends. When the test has failed by then, the instance's log goes to t.Log.
func Start(t testing.TB, o Options) *Postfix {
	t.Helper()
	return start(t, o, freeLoopbackAddr)
}

// start is Start with the choice of the smtpd address left to pickAddr, so that a test can
// make the first choice collide.
func start(t testing.TB, o Options, pickAddr func() (string, error)) *Postfix {
	t.Helper()
	Require(t)
	begin := time.Now()

	// Not t.TempDir: that directory is private to root (0700), and the Postfix daemons,
	// which run as the postfix user, must be able to reach their files.
	root, err := os.MkdirTemp("", "postfixtest-")
	if err != nil {
		t.Fatalf("postfixtest: make instance directory: %v", err)
	}
	p := &Postfix{Dir: root, layout: newLayout(root)}
	var master *proc
	t.Cleanup(func() {
		if master != nil {
			master.stop(5 * time.Second)
		}
		if log := p.Log(); t.Failed() && log != "" {
			t.Logf("postfixtest: log of the Postfix instance in %s:\n%s", root, log)
		}
		if err := os.RemoveAll(root); err != nil {
			t.Errorf("postfixtest: remove %s: %v", root, err)
		}
	})

	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatalf("postfixtest: %v", err)
	}
	if err := makeDirs(p.layout); err != nil {
		t.Fatalf("postfixtest: %v", err)
	}
	if o.TLS {
		if err := testcert.WriteSelfSigned(p.layout.certFile, p.layout.keyFile, hostname); err != nil {
			t.Fatalf("postfixtest: %v", err)
		}
	}

	// A port that looked free may be taken before master binds it: then master exits (and
	// logs nothing: its log is not set up yet when it binds), and we try another port.
	for attempt := 1; ; attempt++ {
		addr, err := pickAddr()
		if err != nil {
			t.Fatalf("postfixtest: %v", err)
		}
		if err := writeConfig(p.layout, o, addr); err != nil {
			t.Fatalf("postfixtest: %v", err)
		}
		master, err = startProc(p.layout.stderr, masterArgv(p.layout, o)...)
		if err != nil {
			t.Fatalf("postfixtest: %v", err)
		}
		err = waitListening(master, addr, startTimeout)
		if err == nil {
			p.SMTPAddr = addr
			break
		}
		master.stop(time.Second)
		master = nil
		if attempt == 3 || !portTaken(addr) {
			t.Fatalf("postfixtest: start Postfix on %s: %v\n%s%s", addr, err, p.Log(),
				diagnose(p.layout))
		}
	}
	t.Logf("postfixtest: Postfix on %s ready in %v (dir %s)", p.SMTPAddr,
		time.Since(begin).Round(time.Millisecond), root)
	return p
}

// masterArgv is the command that runs master: directly, or with Options.ResolvConf in a
// mount namespace of its own. unshare and sh both exec, so the process started is
// master itself (the rig reads its sockets from /proc/PID and kills its group).
func masterArgv(l layout, o Options) []string {
	if o.ResolvConf == "" {
		return []string{masterBin, "-c", l.config, "-d"}
	}
	return []string{unshareBin, "--mount", "--propagation", "private", "sh", "-c",
		`mount --bind "$1" /etc/resolv.conf && exec "$2" -c "$3" -d`, "sh",
		o.ResolvConf, masterBin, l.config}
}

// Flush asks the instance's queue manager to retry its deferred mail now, rather than at
// the next queue run: the trigger "postqueue -f" sends (F: forget dead destinations, A:
// scan all queues, D: deferred, I: incoming), written to qmgr's public socket as Postfix's
// unix_trigger does. postqueue itself would fail here (it also kicks pickup, which the
// rig's master.cf does not run), and postkick dies of SIGPIPE when qmgr closes first.
func (p *Postfix) Flush() error {
	c, err := net.DialTimeout("unix", p.layout.queue+"/public/qmgr", 5*time.Second)
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("FADI")); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// Queued returns the ids of the messages in the instance's queue (postqueue -j, which
// reads the queue directly: the rig's master.cf runs no showq).
func (p *Postfix) Queued() ([]string, error) {
	out, err := exec.Command(postqueueBin, "-c", p.layout.config, "-j").Output()
	if err != nil {
		return nil, fmt.Errorf("postqueue -j: %w", err)
	}
	var ids []string
	for _, line := range strings.Split(string(out), "\n") {
		var m struct {
			QueueID string `json:"queue_id"`
		}
		if line != "" && json.Unmarshal([]byte(line), &m) == nil {
			ids = append(ids, m.QueueID)
		}
	}
	return ids, nil
}

// Log returns the instance's mail log so far, followed by anything written to master's
// stdout or stderr (normally nothing: Postfix programs write to stderr only when it is a
// terminal; a dynamic linker error would end up there).
func (p *Postfix) Log() string {
	var b strings.Builder
	for _, f := range []string{p.layout.maillog, p.layout.stderr} {
		data, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) || (err == nil && len(data) == 0) {
			continue
		}
		if err != nil {
			fmt.Fprintf(&b, "[read %s: %v]\n", f, err)
			continue
		}
		if f == p.layout.stderr {
			b.WriteString("--- master stderr ---\n")
		}
		b.Write(data)
	}
	return b.String()
}

// writeConfig writes main.cf and master.cf for an smtpd on smtpdAddr.
func writeConfig(l layout, o Options, smtpdAddr string) error {
	main, err := mainCF(l, o)
	if err != nil {
		return err
	}
	if err := os.WriteFile(l.config+"/main.cf", []byte(main), 0o644); err != nil {
		return fmt.Errorf("write main.cf: %w", err)
	}
	if err := os.WriteFile(l.config+"/master.cf", []byte(masterCF(smtpdAddr)), 0o644); err != nil {
		return fmt.Errorf("write master.cf: %w", err)
	}
	// Postfix will not trust a configuration file modified in the last second or two (it
	// may still be being written): every program that reads main.cf, master included,
	// sleeps in 300 ms steps until the file is old enough, which made startup take ~1.9 s.
	// Backdating the files skips that wait.
	old := time.Now().Add(-time.Minute)
	for _, f := range []string{"main.cf", "master.cf"} {
		if err := os.Chtimes(l.config+"/"+f, old, old); err != nil {
			return fmt.Errorf("backdate %s: %w", f, err)
		}
	}
	return nil
}

// diagnose explains why master did not start, when its log cannot: an error in main.cf
// (a bad value in Options.MainCF, say) kills master before it has read where to log, and
// Postfix programs write to stderr only when it is a terminal. "postfix check" parses
// main.cf the same way; script(1) (util-linux, always on Debian) gives it a terminal.
func diagnose(l layout) string {
	out, err := exec.Command("script", "-qec", postfixBin+" -c '"+l.config+"' check", "/dev/null").CombinedOutput()
	if err == nil && len(out) == 0 {
		return ""
	}
	return fmt.Sprintf("--- postfix check ---\n%s", out)
}
