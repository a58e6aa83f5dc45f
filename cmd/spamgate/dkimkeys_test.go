package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"spamgate/dkim"
	"spamgate/dnsx/dnstest"
)

// keyTableWorld is a key table, a loopback DNS server and a configuration
// naming both.
type keyTableWorld struct {
	dir, cfg string
	zone     *dnstest.Zone
}

func newKeyTableWorld(t *testing.T) keyTableWorld {
	t.Helper()
	base := t.TempDir()
	w := keyTableWorld{dir: filepath.Join(base, "keys"), cfg: filepath.Join(base, "spamgate.toml"), zone: dnstest.NewZone()}
	srv := dnstest.Start(t, w.zone)
	os.WriteFile(w.cfg, fmt.Appendf(nil, "[dns]\nnameservers = [%q]\ntimeout = \"1s\"\n[dkim]\nkeys_dir = %q\n", srv.Addr, w.dir), 0o600)
	return w
}

// run runs spamgate with args and returns exit code, stdout and stderr.
func (w keyTableWorld) run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// keygen writes a pending key and returns the zone line it asks to publish.
func (w keyTableWorld) keygen(t *testing.T, domain, selector, algo string) string {
	t.Helper()
	code, out, errs := w.run("dkim", "keygen", "-dir", w.dir, "-domain", domain, "-selector", selector, "-algo", algo)
	if code != 0 || !strings.Contains(errs, "pending") {
		t.Fatalf("keygen: %d %s %s", code, out, errs)
	}
	return out
}

// The rotation of issue 17: a pending key signs nothing, rotate refuses it
// until its record is published, then makes it active and retires the old
// key; dns-check -all follows every step.
func TestDKIMRotateAndDNSCheckAll(t *testing.T) {
	w := newKeyTableWorld(t)
	first := w.keygen(t, "a.test", "s1", "ed25519")
	if code, out, _ := w.run("dns-check", "-all", "-config", w.cfg); code != 1 || !strings.Contains(out, "no active key") {
		t.Errorf("dns-check -all with only a pending key: %d\n%s", code, out)
	}
	code, _, errs := w.run("dkim", "rotate", "-domain", "a.test", "-config", w.cfg)
	if code != 1 || !strings.Contains(errs, "refused, nothing changed") || !strings.Contains(errs, "no key record at s1._domainkey.a.test") {
		t.Fatalf("rotate before publishing: %d %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(w.dir, "a.test", "s1.pending")); err != nil {
		t.Fatalf("a refused rotate changed the table: %v", err)
	}
	if err := w.zone.AddText(first); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := w.run("dkim", "rotate", "-domain", "a.test", "-config", w.cfg); code != 0 || !strings.Contains(out, "active:  a.test selector s1 (ed25519)") {
		t.Fatalf("rotate: %d %s %s", code, out, errs)
	}
	if code, out, _ := w.run("dns-check", "-all", "-config", w.cfg); code != 0 || !strings.Contains(out, "result: pass (1 domains, 1 keys)") {
		t.Errorf("dns-check -all after rotation: %d\n%s", code, out)
	}
	// Next rotation: s2 replaces s1, which stays published for a while.
	w.zone.AddText(w.keygen(t, "a.test", "s2", "ed25519"))
	if code, out, errs := w.run("dkim", "rotate", "-domain", "a.test", "-dir", w.dir, "-config", w.cfg); code != 0 || !strings.Contains(out, "retired: a.test selector s1") {
		t.Fatalf("second rotate: %d %s %s", code, out, errs)
	}
	if code, out, _ := w.run("dns-check", "-all", "-v", "-config", w.cfg); code != 0 || !strings.Contains(out, "keep its DNS record until") {
		t.Errorf("dns-check -all -v: %d\n%s", code, out)
	}
	if code, _, errs := w.run("dkim", "rotate", "-domain", "a.test", "-config", w.cfg); code != 1 || !strings.Contains(errs, "no pending key") {
		t.Errorf("rotate with nothing pending: %d %s", code, errs)
	}
	if code, out, errs := w.run("check-config", "-config", w.cfg); code != 0 || !strings.Contains(out, "1 domains, 2 key files, 1 signing") {
		t.Errorf("check-config: %d %s %s", code, out, errs)
	}
	os.Chmod(filepath.Join(w.dir, "a.test", "s2.pem"), 0o644)
	if code, _, errs := w.run("check-config", "-config", w.cfg); code != 1 || !strings.Contains(errs, "a.test/s2.pem is accessible by group or others") {
		t.Errorf("check-config with a readable key: %d %s", code, errs)
	}
}

// dns-check -all names exactly the domains whose mail would fail DKIM: a
// record of another key, no record, and a domain whose keys are all
// retired; the matching domains pass.
func TestDNSCheckAllFindsMismatches(t *testing.T) {
	w := newKeyTableWorld(t)
	put := func(domain, selector, algo string, publish bool) {
		t.Helper()
		line := w.keygen(t, domain, selector, algo)
		os.Remove(filepath.Join(w.dir, domain, selector+".pending")) // active at once
		if publish {
			w.zone.AddText(line)
		}
	}
	put("good.test", "r", "rsa", true)
	put("good.test", "e", "ed25519", true)
	put("missing.test", "s", "ed25519", false)
	put("wrong.test", "s", "ed25519", false)
	other, _, _ := dkim.GenerateKey("ed25519")
	rec, _ := dkim.DNSRecord(other.Public())
	w.zone.AddText(`s._domainkey.wrong.test. 300 IN TXT "` + rec + `"`)
	put("retired.test", "s", "ed25519", true)
	os.WriteFile(filepath.Join(w.dir, "retired.test", "s.retired"), nil, 0o600)

	code, out, errs := w.run("dns-check", "-all", "-json", "-config", w.cfg)
	var rep struct {
		Domains int      `json:"domains"`
		Failed  []string `json:"failed_domains"`
		OK      bool     `json:"ok"`
		Rows    []struct{ Domain, Status, Detail string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s %s", err, out, errs)
	}
	if want := []string{"missing.test", "retired.test", "wrong.test"}; code != 1 || rep.OK || rep.Domains != 4 || !slices.Equal(rep.Failed, want) {
		t.Errorf("exit %d, %d domains, failed %v, want 1, 4, %v\n%s", code, rep.Domains, rep.Failed, want, out)
	}
	_, text, _ := w.run("dns-check", "-all", "-config", w.cfg)
	if !regexp.MustCompile(`wrong\.test\s+s\s+ed25519\s+active\s+FAIL`).MatchString(text) {
		t.Errorf("no failing row for wrong.test:\n%s", text)
	}
	for _, want := range []string{"is not our key", "no key record at s._domainkey.missing.test", "result: FAIL (3 of 4 domains"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "good.test") {
		t.Errorf("a matching domain is listed without -v:\n%s", text)
	}
}
