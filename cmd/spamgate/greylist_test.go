package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"spamgate/dnsx/dnstest"
	"spamgate/internal/redistest"
)

// The support-desk commands against a real redis-server: status shows the
// state and why the client is suspicious, release lets the next retry
// pass, whitelist/list/unwhitelist/counts manage the shared whitelist.
func TestGreylistCommands(t *testing.T) {
	z, err := dnstest.LoadZoneFile("../../testdata/dns/integration.zone", "test.")
	if err != nil {
		t.Fatal(err)
	}
	srv := dnstest.Start(t, z)
	rs := redistest.Start(t)
	cfg := filepath.Join(t.TempDir(), "spamgate.toml")
	os.WriteFile(cfg, fmt.Appendf(nil, "[milter]\ninternal_networks = []\n[dns]\nnameservers = [%q]\n"+
		"[greylist]\nstore = \"redis\"\n[greylist.redis]\naddresses = [%q]\n", srv.Addr, rs.Addr()), 0o600)
	gl := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(append([]string{"greylist", args[0], "-config", cfg}, args[1:]...), &out, &errOut); code != 0 {
			t.Fatalf("greylist %v: exit %d: %s", args, code, errOut.String())
		}
		return out.String()
	}
	triplet := []string{"-client", "192.0.2.20", "-from", "user@aonly.test", "-to", "alice@example.net"}
	want := func(got string, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(got, p) {
				t.Errorf("output lacks %q:\n%s", p, got)
			}
		}
	}

	want(gl(append([]string{"status"}, triplet...)...), "client suspicious: [no reverse DNS SPF none]",
		"decision now: suspicious: no reverse DNS; SPF none; new", "triplet: not seen")
	want(gl(append([]string{"release"}, triplet...)...), "released")
	want(gl(append([]string{"status"}, triplet...)...), "decision now: suspicious: no reverse DNS; SPF none; pass")

	want(gl("whitelist", "-network", "198.51.100.7/24", "-ttl", "1h"), "whitelisted network 198.51.100.0/24, until ")
	want(gl("whitelist", "-domain", "partner.example"), "whitelisted domain partner.example, for good")
	want(gl("list"), "198.51.100.0/24", "partner.example")
	want(gl("counts"), "passed 1", "whitelist entries 2")
	want(gl("unwhitelist", "-domain", "partner.example"), "removed domain partner.example")
	if got := gl("list"); strings.Contains(got, "partner.example") {
		t.Errorf("unwhitelisted domain still listed:\n%s", got)
	}
}

// With the memory store the state lives in the running daemon: the
// commands that would change it refuse, saying what to do instead.
func TestGreylistMemoryStoreRefusesChanges(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"greylist", "whitelist", "-network", "192.0.2.0/24"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "whitelist_networks") {
		t.Errorf("exit %d, stderr %q; want 1 and a pointer to whitelist_networks", code, errOut.String())
	}
}
