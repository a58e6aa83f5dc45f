package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"spamgate/dnsx/dnstest"
)

// explain shows the ARC chain of the -message file and why it failed.
func TestExplainARC(t *testing.T) {
	srv := dnstest.Start(t, dnstest.NewZone())
	dir := t.TempDir()
	cfg := filepath.Join(dir, "spamgate.toml")
	os.WriteFile(cfg, fmt.Appendf(nil, "[milter]\nauthserv_id = \"mx.test\"\ninternal_networks = []\n[dns]\nnameservers = [%q]\n[dnsbl]\nenabled = false\n[sender_domain]\nenabled = false\n[greylist]\nmode = \"never\"\n", srv.Addr), 0o600)
	msg := filepath.Join(dir, "msg.eml")
	os.WriteFile(msg, []byte("ARC-Seal: i=2; a=rsa-sha256; cv=pass; d=fwd.example; s=s; b=AAAA\r\n"+
		"ARC-Message-Signature: i=2; a=rsa-sha256; d=fwd.example; s=s; h=from; bh=AAAA; b=AAAA\r\n"+
		"ARC-Authentication-Results: i=2; fwd.example; spf=pass\r\n"+
		"From: a@origin.example\r\nSubject: x\r\n\r\nbody\r\n"), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"explain", "-config", cfg, "-client", "192.0.2.1", "-from", "a@origin.example",
		"-to", "b@example.net", "-message", msg}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if want := "arc            fail: arc: broken chain structure: ARC set 1 of 2 is incomplete or missing"; !strings.Contains(out.String(), want) {
		t.Errorf("explain output lacks %q:\n%s", want, out.String())
	}
}
