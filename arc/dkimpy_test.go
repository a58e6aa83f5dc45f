package arc

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"spamgate/dkim"
)

// The cross-check against an independent implementation: dkimpy
// (Debian's python3-dkim, installed by scripts/test-deps.sh) seals what
// spamgate verifies and verifies what spamgate seals, and verifies every
// conformance scenario so the two verdicts can be compared. Keys come from
// the same zone (dkimpy's dnsfunc hook; see testdata/arc/dkimpy.py).

type dkimpyVerdict struct{ CV, Reason string }

func dkimpy(t testing.TB, req map[string]any) map[string]json.RawMessage {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import dkim, authres").Run(); err != nil {
		t.Fatalf("dkimpy is missing (%v): run scripts/test-deps.sh as root, or apt-get install python3-dkim", err)
	}
	req["now"] = testNow.Unix() // dkimpy's clock is the tests' clock
	in, _ := json.Marshal(req)
	cmd := exec.Command("/usr/bin/python3", filepath.Join("..", "testdata", "arc", "dkimpy.py"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dkimpy: %v: %s", err, stderr.String())
	}
	var res map[string]json.RawMessage
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("dkimpy answer %q: %v", out, err)
	}
	return res
}

func dkimpyVerify(t testing.TB, z zone, msgs []string) []dkimpyVerdict {
	t.Helper()
	res := dkimpy(t, map[string]any{"zone": zoneRecords(z), "verify": msgs})
	var vs []dkimpyVerdict
	if err := json.Unmarshal(res["verify"], &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// dkimpySeal seals raw with dkimpy; raw must carry an
// Authentication-Results field of srvID (dkimpy's AAR source; its arc=
// result is the cv=).
func dkimpySeal(t testing.TB, raw string, k dkim.Key, srvID string) string {
	t.Helper()
	rk := k.Signer.(*rsa.PrivateKey)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})
	res := dkimpy(t, map[string]any{"sign": map[string]any{
		"message": raw, "key": string(pemKey), "domain": k.Domain, "selector": k.Selector,
		"srv_id": srvID, "timestamp": testNow.Unix() - 30,
	}})
	var lines []string
	if err := json.Unmarshal(res["sign"], &lines); err != nil || len(lines) != 3 {
		t.Fatalf("dkimpy sign: %v %q", err, lines)
	}
	return strings.Join(lines, "") + raw
}

func zoneRecords(z zone) map[string]string {
	recs := map[string]string{}
	for name, v := range z {
		if s, ok := v.(string); ok {
			recs[name] = s
		}
	}
	return recs
}

func TestDkimpySealsSpamgateVerifies(t *testing.T) {
	k := testKeys(t)
	ar := "Authentication-Results: mx.fwd.example; spf=pass smtp.mailfrom=origin.example\r\n"
	raw := dkimpySeal(t, ar+readTestdata(t, "message.eml"), k.b, "mx.fwd.example")
	if r := verify(t, raw, k.z); r.Result != Pass || r.Sealers[0] != "fwd.example" {
		t.Fatalf("dkimpy i=1: %+v", r)
	}
	// spamgate seals on top (i=2), dkimpy again (i=3; its A-R says arc=pass).
	raw = seal(t, raw, k.z, k.a, nil)
	raw = dkimpySeal(t, "Authentication-Results: mx.relay.example; arc=pass\r\n"+raw, k.c, "mx.relay.example")
	r := verify(t, raw, k.z)
	if r.Result != Pass || r.Instances != 3 || r.OldestPass != 0 {
		t.Fatalf("mixed chain: %+v", r)
	}
	if v := dkimpyVerify(t, k.z, []string{raw}); v[0].CV != Pass {
		t.Fatalf("dkimpy on the mixed chain: %+v", v)
	}
	// A change after dkimpy's seal fails in both.
	bad := strings.Replace(raw, "Hello list", "Hello all", 1)
	if r := verify(t, bad, k.z); r.Result != Fail {
		t.Fatalf("modified: %+v", r)
	}
	if v := dkimpyVerify(t, k.z, []string{bad}); v[0].CV != Fail {
		t.Fatalf("dkimpy on modified: %+v", v)
	}
}

// knownDisagreements are the scenarios where dkimpy 1.1.4 and spamgate
// differ, and why. Every other scenario must agree.
var knownDisagreements = map[string]string{
	"ed25519 sealer":           "dkimpy's ARC knows rsa-sha256 only (RFC 8617 names no other); spamgate verifies RFC 8463 keys but seals with RSA",
	"AMS with v=":              "dkimpy ignores a v= tag in an AMS (RFC 8617 4.1.2 defines none)",
	"key h=sha1 only":          "dkimpy ignores the key record's h= (RFC 6376 3.6.1)",
	"AMS expired (x=)":         "dkimpy accepts an x= up to 10 hours past (clock slop); spamgate none",
	"AS x= before t=":          "dkimpy accepts an x= up to 10 hours past (clock slop), and never reaches its x= < t= check",
	"chain over max_instances": "a spamgate bound set below RFC 8617's 50 for the test",
	"too many distinct keys":   "a spamgate bound (key lookups per message), not an RFC rule",
	"body over the size bound": "a spamgate bound (max_body_bytes), not an RFC rule",
}

func TestDkimpyAgreesOnScenarios(t *testing.T) {
	var names, want []string
	var reqs []any
	for _, sc := range scenarios() {
		if sc.name == "huge b=" {
			// dkimpy does RSA in Python: a 150 KB b= costs it ~10 s.
			// spamgate refuses it unread (b= longer than any key).
			continue
		}
		k := testKeys(t)
		raw := sc.build(t, k)
		if sc.zone != nil {
			sc.zone(k.z)
		}
		names = append(names, sc.name)
		want = append(want, message(t, raw, k.z, sc.opt).Verify(context.Background()).Result)
		reqs = append(reqs, map[string]any{"message": raw, "zone": zoneRecords(k.z)})
	}
	res := dkimpy(t, map[string]any{"verify": reqs}) // one dkimpy run for all
	var vs []dkimpyVerdict
	if err := json.Unmarshal(res["verify"], &vs); err != nil || len(vs) != len(names) {
		t.Fatalf("dkimpy: %v, %d answers", err, len(vs))
	}
	agree := 0
	for i, v := range vs {
		if v.CV == want[i] {
			agree++
			continue
		}
		why, known := knownDisagreements[names[i]]
		if !known {
			t.Errorf("%s: spamgate %s, dkimpy %s (%s)", names[i], want[i], v.CV, v.Reason)
			continue
		}
		t.Logf("%s: spamgate %s, dkimpy %s: %s", names[i], want[i], v.CV, why)
	}
	t.Logf("dkimpy cross-check: %d of %d scenarios agree, %d known differences", agree, len(vs), len(vs)-agree)
}
