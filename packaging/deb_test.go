package packaging_test

import (
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDeb builds the package with scripts/build-deb.sh into a temporary
// directory and checks it with dpkg-deb: control fields, conffiles,
// maintainer scripts, the file list with owners and modes, and the
// installed files themselves (binary, unit, docs).
func TestDeb(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: building the package takes a go build")
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("no dpkg-deb: not a Debian system")
	}
	deb, version := buildDeb(t)
	arch := run(t, "dpkg", "--print-architecture")
	if want := "spamgate_" + version + "_" + arch + ".deb"; filepath.Base(deb) != want {
		t.Errorf("package file %s, want %s", filepath.Base(deb), want)
	}
	checkControl(t, deb, arch)
	checkContents(t, deb)
	root := t.TempDir()
	run(t, "dpkg-deb", "--extract", deb, root)
	checkInstalled(t, root, version)
	checkMaintainerScripts(t, deb)
}

// buildDeb runs the script the way `make deb` does, but with the binary and
// the package in temporary directories, so the checkout's bin/ and dist/
// stay untouched. It returns the package path and its version.
func buildDeb(t *testing.T) (deb, version string) {
	t.Helper()
	tmp := t.TempDir()
	// A stuck build fails here, with the script's output, not as a test
	// binary timeout with a goroutine dump.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "../scripts/build-deb.sh", filepath.Join(tmp, "out"))
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "SPAMGATE_BIN="+filepath.Join(tmp, "spamgate"))
	if exec.Command("git", "describe", "--tags", "--always").Run() != nil {
		// A tree without git history (a tarball): the script needs a version.
		cmd.Env = append(cmd.Env, "VERSION=0.0.0+test")
	}
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("build-deb.sh: %v\n%s", err, stderrOf(err))
	}
	t.Logf("build-deb.sh took %v", time.Since(start).Round(time.Millisecond))
	deb = strings.TrimSpace(string(out))
	version = run(t, "dpkg-deb", "--field", deb, "Version")
	if !regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`).MatchString(version) {
		t.Errorf("version %q is not a valid Debian upstream version", version)
	}
	return deb, version
}

func checkControl(t *testing.T, deb, arch string) {
	t.Helper()
	info := run(t, "dpkg-deb", "--info", deb)
	for _, want := range []string{
		"Package: spamgate", "Architecture: " + arch, "Depends: adduser",
		"Recommends: postfix, redis-server", "Section: mail", "Priority: optional",
		"Maintainer: ", "Installed-Size: ", "Description: mail-policy milter for Postfix",
	} {
		if !strings.Contains(info, "\n "+want) {
			t.Errorf("control lacks %q:\n%s", want, info)
		}
	}
	if got := run(t, "dpkg-deb", "--info", deb, "conffiles"); got != "/etc/spamgate/spamgate.toml" {
		t.Errorf("conffiles = %q, want /etc/spamgate/spamgate.toml", got)
	}
}

// checkContents checks the data member: each file there, root-owned, with
// its mode.
func checkContents(t *testing.T, deb string) {
	t.Helper()
	modes := map[string]string{}
	for _, line := range strings.Split(run(t, "dpkg-deb", "--contents", deb), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		if f[1] != "root/root" {
			t.Errorf("%s owned by %s, want root/root", f[5], f[1])
		}
		modes[f[5]] = f[0]
	}
	for path, mode := range map[string]string{
		"./usr/bin/spamgate":                     "-rwxr-xr-x",
		"./lib/systemd/system/spamgate.service":  "-rw-r--r--",
		"./etc/spamgate/spamgate.toml":           "-rw-r--r--",
		"./usr/share/doc/spamgate/README.md":     "-rw-r--r--",
		"./usr/share/doc/spamgate/README.Debian": "-rw-r--r--",
		"./usr/share/doc/spamgate/BENCHMARKS.md": "-rw-r--r--",
		"./usr/share/doc/spamgate/copyright":     "-rw-r--r--",
		"./usr/share/doc/spamgate/spamgate.txt":  "-rw-r--r--",
		"./etc/spamgate/":                        "drwxr-xr-x",
		"./usr/share/doc/spamgate/":              "drwxr-xr-x",
	} {
		if got, ok := modes[path]; !ok {
			t.Errorf("package lacks %s", path)
		} else if got != mode {
			t.Errorf("%s has mode %s, want %s", path, got, mode)
		}
	}
}

// checkInstalled checks the extracted files: a static binary that reports
// the package version, the repository's unit and configuration, the usage
// text in place of a man page.
func checkInstalled(t *testing.T, root, version string) {
	t.Helper()
	bin := filepath.Join(root, "usr/bin/spamgate")
	if got := run(t, bin, "version"); got != "spamgate "+version {
		t.Errorf("spamgate version = %q, want %q (-X main.version)", got, "spamgate "+version)
	}
	checkStatic(t, bin)
	unit := filepath.Join(root, "lib/systemd/system/spamgate.service")
	sameFile(t, unit, "spamgate.service")
	checkConffile(t, filepath.Join(root, "etc/spamgate/spamgate.toml"), bin)
	checkUnit(t, unit)
	systemdVerify(t, unit, bin)
	txt, err := os.ReadFile(filepath.Join(root, "usr/share/doc/spamgate/spamgate.txt"))
	if err != nil || !strings.Contains(string(txt), "usage: spamgate COMMAND") {
		t.Errorf("spamgate.txt is not the usage text (%v):\n%s", err, txt)
	}
}

// checkConffile: the packaged configuration is the repository's with one
// change, the milter socket in Postfix's chroot instead of TCP on
// 127.0.0.1 (README.Debian), and the packaged binary accepts it.
func checkConffile(t *testing.T, conf, bin string) {
	t.Helper()
	got, err := os.ReadFile(conf)
	if err != nil {
		t.Fatalf("read conffile: %v", err)
	}
	repo, err := os.ReadFile("../etc/spamgate.toml")
	if err != nil {
		t.Fatal(err)
	}
	const inet, unix = `listen = "inet:127.0.0.1:8891"`, `listen = "unix:/var/spool/postfix/spamgate/milter.sock"`
	if strings.Count(string(repo), "\n"+inet+"\n") != 1 {
		t.Fatalf("etc/spamgate.toml has no single %q line", inet)
	}
	if want := strings.Replace(string(repo), "\n"+inet+"\n", "\n"+unix+"\n", 1); string(got) != want {
		t.Errorf("conffile is not etc/spamgate.toml with %s:\n%s", unix, got)
	}
	out, err := exec.Command(bin, "check-config", "-config", conf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "listen = 'unix:/var/spool/postfix/spamgate/milter.sock'") {
		t.Errorf("check-config of the conffile: %v\n%s", err, out)
	}
}

// checkStatic: CGO_ENABLED=0 gives a binary without a dynamic loader, which
// is why the package depends on nothing but adduser.
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("open binary: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary is dynamically linked; the package has no libc dependency")
		}
	}
}

// checkMaintainerScripts: the scripts are in the control member, valid sh,
// and act on systemd only when it runs.
func checkMaintainerScripts(t *testing.T, deb string) {
	t.Helper()
	dir := t.TempDir()
	run(t, "dpkg-deb", "--control", deb, dir)
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		path := filepath.Join(dir, s)
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("control member lacks %s", s)
			continue
		}
		if fi.Mode().Perm() != 0o755 {
			t.Errorf("%s mode %v, want 0755", s, fi.Mode().Perm())
		}
		run(t, "sh", "-n", path)
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), "systemctl") && !strings.Contains(string(data), "[ -d /run/systemd/system ]") {
			t.Errorf("%s calls systemctl without checking that systemd runs", s)
		}
	}
	post, _ := os.ReadFile(filepath.Join(dir, "postinst"))
	for _, want := range []string{"adduser --quiet --system --group --home /var/lib/spamgate", "adduser --quiet postfix spamgate",
		"install -d -o spamgate -g postfix -m 2750 /var/spool/postfix/spamgate"} {
		if !strings.Contains(string(post), want) {
			t.Errorf("postinst lacks %q", want)
		}
	}
}

// sameFile fails unless got has the bytes of the repository file want.
func sameFile(t *testing.T, got, want string) {
	t.Helper()
	a, errA := os.ReadFile(got)
	b, errB := os.ReadFile(want)
	if errA != nil || errB != nil || string(a) != string(b) {
		t.Errorf("%s differs from %s (%v, %v)", got, want, errA, errB)
	}
}

// run runs a command and returns its trimmed stdout, failing on an error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderrOf(err))
	}
	return strings.TrimSpace(string(out))
}

func stderrOf(err error) []byte {
	if e, ok := err.(*exec.ExitError); ok {
		return e.Stderr
	}
	return nil
}
