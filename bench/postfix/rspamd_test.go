package postfix

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"spamgate/internal/mtarig"
	"spamgate/internal/redistest"
)

// rspamd, the peer: Debian 12's rspamd package (3.4) as a Postfix milter, its
// stock configuration (/etc/rspamd) with the overrides below, run by the
// benchmark as a private process tree on loopback, never the system service.
const (
	rspamdBin  = "/usr/bin/rspamd"
	rspamdHint = "rspamd is needed for the end-to-end benchmark: run sh scripts/test-deps.sh bench as root " +
		"(make bench does), or: apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y " +
		"--no-install-recommends rspamd (then stop the system service it may start)"
)

// rspamdFiles is the private configuration: a top-level rspamd.conf like
// Debian's but with only the milter proxy (scanning the message itself, so no
// normal worker and no controller), and local.d overrides, which the stock
// module configurations include from $LOCAL_CONFDIR. startRspamd fills in
// @PROXY@ (the proxy's address), @DNS@, @REDIS@ and @WORKERS@ (the number of
// proxy processes).
var rspamdFiles = map[string]string{
	"rspamd.conf": `.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/options.inc"
}
logging {
    type = "file";
    filename = "$LOGDIR/rspamd.log";
    .include "$CONFDIR/logging.inc"
}
worker "rspamd_proxy" {
    bind_socket = "@PROXY@";
    .include "$CONFDIR/worker-proxy.inc"
    .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/worker-proxy.inc"
}
`,
	// As many scanning processes as CPUs (the stock proxy has 1, and leaves
	// the scanning to "normal" workers, as many as CPUs): spamgate uses every
	// CPU too.
	"local.d/worker-proxy.inc": `milter = yes;
count = @WORKERS@;
upstream "local" {
    self_scan = yes;
}
`,
	// Every lookup goes to the benchmark's DNS server. The client is
	// 127.0.0.1, which rspamd treats as local and would skip SPF, DMARC,
	// greylisting and hfilter for: check_local makes it check it like a
	// remote client, as spamgate (internal_networks = []) does.
	"local.d/options.inc": `dns {
    nameserver = ["@DNS@"];
}
check_local = true;
check_authed = false;
`,
	// The stock RBL rules (their names answer NXDOMAIN here) and spamgate's two
	// zones, checked for loopback clients too.
	"local.d/rbl.conf": `default_exclude_local = false;
default_exclude_private_ips = false;
rbls {
    bench_bl {
        symbol = "RBL_BENCH_BL";
        rbl = "bl.test";
        checks = ["from"];
    }
    bench_light {
        symbol = "RBL_BENCH_LIGHT";
        rbl = "light.test";
        checks = ["from"];
    }
}
`,
	// Greylisting in Redis (one MGET per message, as spamgate's one round
	// trip per RCPT); rspamd greylists only messages whose score reaches the
	// greylist action, which the benchmark's message does not.
	"local.d/greylist.conf": `servers = "@REDIS@";
`,
	// The public fuzzy storage (fuzzy1/2.rspamd.com) is outside: off, and so
	// is the system resolver lookup of its names at start.
	"local.d/fuzzy_check.conf": `enabled = false;
`,
	// What spamgate adds to every message: Authentication-Results and the
	// SpamAssassin-style score fields; for loopback clients too.
	"local.d/milter_headers.conf": `use = ["authentication-results", "x-spam-status", "x-spam-level"];
skip_local = false;
`,
	// The benchmark's message must reach smtp-sink: it is never rejected
	// nor soft-rejected, whatever it scores.
	"local.d/actions.conf": `reject = 1000;
add_header = 500;
greylist = 400;
`,
}

// rspamd is a running rspamd: the main process leads its own process group,
// with the proxy workers and the hyperscan helper.
type rspamd struct {
	Addr    string // 127.0.0.1:PORT of the milter proxy
	Milter  string // "inet:" + Addr, for smtpd_milters
	LogFile string
	Workers int    // proxy processes
	Redis   string // its greylisting store

	cmd  *exec.Cmd
	done chan struct{}
}

// hsLoaded is logged once the hyperscan helper has compiled the regular
// expressions and the processes switch to them: the steady state.
var hsLoaded = regexp.MustCompile(`hyperscan database of \d+ regexps has been loaded`)

// requireRspamd fails (never skips) the benchmark when rspamd is missing.
func requireRspamd(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(rspamdBin); err != nil {
		tb.Fatalf("%v; %s", err, rspamdHint)
	}
}

// startRspamd runs rspamd against the DNS server at dnsAddr, with its own
// redis-server for greylisting, and returns once the milter proxy listens and
// the hyperscan database is loaded (rspamd 3.4 needs 15–30 s to start).
func startRspamd(tb testing.TB, dnsAddr string) *rspamd {
	tb.Helper()
	requireRspamd(tb)
	rs := redistest.Start(tb)
	dir := tb.TempDir()
	r := &rspamd{
		Addr:    "127.0.0.1:" + strconv.Itoa(redistest.FreePort(tb)),
		LogFile: filepath.Join(dir, "log", "rspamd.log"),
		Workers: runtime.NumCPU(),
		Redis:   rs.Addr(),
	}
	r.Milter = "inet:" + r.Addr
	for _, sub := range []string{"local/local.d", "run", "db", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	vars := strings.NewReplacer("@PROXY@", r.Addr, "@DNS@", dnsAddr, "@REDIS@", r.Redis,
		"@WORKERS@", strconv.Itoa(r.Workers))
	for name, text := range rspamdFiles {
		path := filepath.Join(dir, "local", name)
		if name == "rspamd.conf" {
			path = filepath.Join(dir, name)
		}
		if err := os.WriteFile(path, []byte(vars.Replace(text)), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	stdout, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		tb.Fatal(err)
	}
	defer stdout.Close()
	// -f: stay in the foreground (our child, leader of the group); -i with
	// root: no user to drop to, the temporary directories are root's.
	r.cmd = exec.Command(rspamdBin, "-f", "-i", "-u", "root", "-g", "root",
		"-c", filepath.Join(dir, "rspamd.conf"),
		"--var=LOCAL_CONFDIR="+filepath.Join(dir, "local"),
		"--var=RUNDIR="+filepath.Join(dir, "run"),
		"--var=DBDIR="+filepath.Join(dir, "db"),
		"--var=LOGDIR="+filepath.Join(dir, "log"))
	r.cmd.Stdout, r.cmd.Stderr = stdout, stdout
	done, err := mtarig.StartGroup(r.cmd)
	if err != nil {
		tb.Fatalf("start rspamd: %v", err)
	}
	r.done = done
	tb.Cleanup(func() {
		mtarig.Terminate(r.cmd, r.done)
		if tb.Failed() {
			tb.Logf("rspamd log (tail):\n%s", mtarig.Tail(r.log(), 40))
		}
	})

	if err := mtarig.WaitDial(r.Addr, r.done, 90*time.Second); err != nil {
		out, _ := os.ReadFile(stdout.Name())
		tb.Fatalf("rspamd: %v\n%s\nlog (tail):\n%s", err, out, mtarig.Tail(r.log(), 40))
	}
	deadline := time.Now().Add(90 * time.Second)
	for !hsLoaded.MatchString(r.log()) {
		select {
		case <-r.done:
			tb.Fatalf("rspamd exited at start:\n%s", mtarig.Tail(r.log(), 40))
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("rspamd: no hyperscan database loaded after 90s:\n%s", mtarig.Tail(r.log(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return r
}

func (r *rspamd) log() string {
	b, _ := os.ReadFile(r.LogFile)
	return string(b)
}

// Scans are the per-message summary lines of rspamd's log (the stock
// log_format: "... (default: F (no action): [score/threshold] [symbols]) ...").
func (r *rspamd) Scans() []string {
	var out []string
	for line := range strings.SplitSeq(r.log(), "\n") {
		if strings.Contains(line, "(default: ") {
			out = append(out, line)
		}
	}
	return out
}

// pids are the processes of rspamd's group: main, proxies, hyperscan helper.
func (r *rspamd) pids() ([]int, error) {
	return groupPIDs(r.cmd.Process.Pid)
}

// CPU is the user plus system time of every process of the group so far.
func (r *rspamd) CPU() (time.Duration, error) {
	pids, err := r.pids()
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, pid := range pids {
		d, err := mtarig.ProcCPU(pid, false)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// ResetPeakRSS starts a new peak in every process of the group.
func (r *rspamd) ResetPeakRSS() error {
	pids, err := r.pids()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := mtarig.ResetPeakRSS(pid); err != nil {
			return err
		}
	}
	return nil
}

// PeakRSS is the sum of the processes' VmHWM. The workers are forked from
// the main process and share most of their pages with it (configuration,
// maps, hyperscan database), so the sum counts those pages once per
// process: PSS says what the group really holds.
func (r *rspamd) PeakRSS() (int64, error) {
	return r.sumStatus("/proc/%d/status", "VmHWM:")
}

// PSS is the group's proportional set size now: shared pages divided among
// the processes that share them.
func (r *rspamd) PSS() (int64, error) {
	return r.sumStatus("/proc/%d/smaps_rollup", "Pss:")
}

func (r *rspamd) sumStatus(file, field string) (int64, error) {
	pids, err := r.pids()
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, pid := range pids {
		n, err := mtarig.ProcKB(fmt.Sprintf(file, pid), field)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// groupPIDs lists the live processes whose process group is pgid.
func groupPIDs(pgid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := mtarig.ProcStat(pid)
		if err != nil {
			continue // gone meanwhile
		}
		if g, err := strconv.Atoi(f[2]); err == nil && g == pgid {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("no process in group %d", pgid)
	}
	return pids, nil
}
