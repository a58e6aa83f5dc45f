package packaging_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitFile is a systemd unit: section → key → values in file order.
type unitFile map[string]map[string][]string

// parseUnit reads the subset of systemd's syntax the unit uses: sections,
// Key=Value lines, # and ; comments. Continuation lines are refused, so a
// stray backslash is caught rather than misread.
func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open unit: %v", err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case strings.HasSuffix(line, "\\"):
			t.Fatalf("%s:%d: continuation lines are not expected", path, n)
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		case section == "":
			t.Fatalf("%s:%d: %q outside a section", path, n, line)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s:%d: %q is not Key=Value", path, n, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read unit: %v", err)
	}
	return u
}

// requiredService are the [Service] settings the brief asks for, exactly.
var requiredService = map[string]string{
	"Type":                    "simple",
	"User":                    "spamgate",
	"Group":                   "spamgate",
	"ExecStart":               "/usr/bin/spamgate serve -config /etc/spamgate/spamgate.toml",
	"ExecReload":              "/bin/kill -HUP $MAINPID",
	"Restart":                 "on-failure",
	"ReadWritePaths":          "-/var/spool/postfix/spamgate",
	"RuntimeDirectory":        "spamgate",
	"RuntimeDirectoryMode":    "0750",
	"StateDirectory":          "spamgate",
	"UMask":                   "0027",
	"LimitNOFILE":             "65536",
	"NoNewPrivileges":         "yes",
	"ProtectSystem":           "strict",
	"ProtectHome":             "yes",
	"PrivateTmp":              "yes",
	"PrivateDevices":          "yes",
	"ProtectKernelTunables":   "yes",
	"ProtectKernelModules":    "yes",
	"ProtectKernelLogs":       "yes",
	"ProtectControlGroups":    "yes",
	"ProtectClock":            "yes",
	"ProtectHostname":         "yes",
	"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
	"RestrictNamespaces":      "yes",
	"RestrictRealtime":        "yes",
	"RestrictSUIDSGID":        "yes",
	"LockPersonality":         "yes",
	"MemoryDenyWriteExecute":  "yes",
	"SystemCallArchitectures": "native",
	"SystemCallFilter":        "@system-service",
	"CapabilityBoundingSet":   "",
}

// checkUnit checks the unit's required settings, each given once.
func checkUnit(t *testing.T, path string) {
	t.Helper()
	u := parseUnit(t, path)
	for _, s := range []string{"Unit", "Service", "Install"} {
		if u[s] == nil {
			t.Errorf("%s: no [%s] section", path, s)
		}
	}
	for k, want := range requiredService {
		got := u["Service"][k]
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s: [Service] %s = %q, want exactly %q", path, k, got, want)
		}
	}
	if got := u["Install"]["WantedBy"]; len(got) != 1 || got[0] != "multi-user.target" {
		t.Errorf("%s: [Install] WantedBy = %q, want multi-user.target", path, got)
	}
}

func TestUnitFile(t *testing.T) {
	checkUnit(t, "spamgate.service")
}

// systemdVerify runs systemd-analyze verify when the machine has it. The
// unit's ExecStart points at the installed path, so a copy points at bin,
// the binary under test, instead. verify exits 0 on unknown keys and bad
// values too: any output at all is a failure.
func systemdVerify(t *testing.T, unit, bin string) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("no systemd-analyze: the unit was checked by the parser only")
		return
	}
	data, err := os.ReadFile(unit)
	if err != nil {
		t.Fatalf("read unit: %v", err)
	}
	verifyCopy := filepath.Join(t.TempDir(), "spamgate.service")
	text := strings.ReplaceAll(string(data), "ExecStart=/usr/bin/spamgate ", "ExecStart="+bin+" ")
	if err := os.WriteFile(verifyCopy, []byte(text), 0o644); err != nil {
		t.Fatalf("write unit copy: %v", err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", verifyCopy).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
