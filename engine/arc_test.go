package engine

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"spamgate/checks"
	"spamgate/dkim"
	"spamgate/dnsx/dnstest"
	"spamgate/metrics"
)

// The ARC path through the engine, on a real DNS server: origin.test
// (p=reject) signs a message; the list at list.test verifies it on the way
// in (its own Authentication-Results), changes the Subject and re-sends it
// through its outbound spamgate, which seals it; the receiver refuses it
// unless list.test is a trusted sealer.
type arcWorld struct {
	dns     *dnstest.Server
	origin  dkim.Key
	listPEM string // the list's seal key file
	dir     string
	// checks are the spamgate_check_results_total counters of the last
	// run, "check/result" → count.
	checks map[string]float64
}

func newARCWorld(t *testing.T) *arcWorld {
	t.Helper()
	w := &arcWorld{dir: t.TempDir()}
	z := dnstest.NewZone()
	for _, rr := range []string{
		`_dmarc.origin.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`origin.test. 300 IN A 127.0.0.9`,
		`list.test. 300 IN A 127.0.0.10`,
	} {
		if err := z.AddText(rr); err != nil {
			t.Fatal(err)
		}
	}
	add := func(name, algo string) (dkim.Key, []byte) {
		signer, pemKey, err := dkim.GenerateKey(algo)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := dkim.DNSRecord(signer.Public())
		if err != nil {
			t.Fatal(err)
		}
		var txt []string
		for s := rec; len(s) > 0; {
			n := min(255, len(s))
			txt, s = append(txt, s[:n]), s[n:]
		}
		z.Add(&dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}, Txt: txt})
		return dkim.Key{Signer: signer}, pemKey
	}
	w.origin, _ = add("o._domainkey.origin.test.", "ed25519")
	w.origin.Domain, w.origin.Selector = "origin.test", "o"
	_, pemKey := add("arc._domainkey.list.test.", "rsa")
	w.listPEM = filepath.Join(w.dir, "list.pem")
	if err := os.WriteFile(w.listPEM, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	w.dns = dnstest.Start(t, z)
	return w
}

const arcBase = `
[milter]
authserv_id = %q
internal_networks = [%s]
[dns]
nameservers = [%q]
[dnsbl]
enabled = false
[sender_domain]
enabled = false
[spf]
enabled = false
[iprev]
enabled = false
[greylist]
mode = "never"
[score]
enabled = false
`

// run passes raw through a Session of cfgText from client and returns the
// message as the next hop sees it (inserts applied at the top), or the
// refusal.
func (w *arcWorld) run(t *testing.T, cfgText, client, raw string) (string, *checks.Reply, *Report, string) {
	t.Helper()
	e, logs := newTestEngine(t, cfgText)
	defer e.Close()
	mt := metrics.New()
	e.UseMetrics(mt)
	defer func() { w.checks = checkCounts(t, mt) }()
	s := e.NewSession(context.Background(), "arc")
	defer s.Close()
	rep := &Report{}
	s.Record(rep)
	s.Connect(Client{Addr: netip.MustParseAddr(client)})
	s.Helo("host.test")
	s.Mail("owner@list.test")
	if r := s.Rcpt("user@example.net"); r != nil {
		t.Fatalf("rcpt: %v", r)
	}
	head, body, _ := strings.Cut(raw, "\r\n\r\n")
	var fields [][2]string
	for line := range strings.SplitSeq(head, "\r\n") {
		if line[0] == ' ' || line[0] == '\t' {
			fields[len(fields)-1][1] += "\n" + line
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		fields = append(fields, [2]string{name, value})
	}
	for _, f := range fields {
		s.Header(f[0], f[1])
	}
	s.EndHeaders()
	for b := []byte(body); len(b) > 0; {
		n := min(100, len(b))
		s.Body(b[:n])
		b = b[n:]
	}
	changes, reply := s.End()
	out := raw
	for _, c := range changes {
		if c.Delete || c.Change || c.Quarantine != "" {
			continue
		}
		out = c.Name + ": " + strings.ReplaceAll(c.Value, "\r\n", "\n") + "\r\n" + out
		out = strings.ReplaceAll(strings.ReplaceAll(out, "\r\n", "\n"), "\n", "\r\n")
	}
	return out, reply, rep, logs.String()
}

func checkCounts(t *testing.T, mt *metrics.Metrics) map[string]float64 {
	families, err := mt.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "spamgate_check_results_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var check, result string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "check":
					check = l.GetValue()
				case "result":
					result = l.GetValue()
				}
			}
			out[check+"/"+result] = m.GetCounter().GetValue()
		}
	}
	return out
}

func (w *arcWorld) original(t *testing.T) string {
	t.Helper()
	raw := "From: Alice <alice@origin.test>\r\nTo: list@list.test\r\nSubject: plans\r\n" +
		"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@origin.test>\r\n\r\nSee you at ten.\r\n"
	sg, err := dkim.NewSigner([]dkim.Key{w.origin})
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(raw, "\r\n\r\n")
	for line := range strings.SplitSeq(head, "\r\n") {
		name, value, _ := strings.Cut(line, ":")
		sg.Header(name, value)
	}
	sg.EndHeaders()
	sg.Body([]byte(body))
	sigs, err := sg.Close()
	if err != nil {
		t.Fatal(err)
	}
	return "DKIM-Signature:" + strings.ReplaceAll(sigs[0], "\n", "\r\n") + "\r\n" + raw
}

// forwarded is the message as the list re-sends it: verified on the way in
// by the list's spamgate, Subject changed, sealed on the way out.
func (w *arcWorld) forwarded(t *testing.T) string {
	t.Helper()
	listIn := fmt.Sprintf(arcBase, "list.test", "", w.dns.Addr)
	in, reply, _, _ := w.run(t, listIn, "192.0.2.1", w.original(t))
	if reply != nil || !strings.Contains(in, "dkim=pass header.d=origin.test") || !strings.Contains(in, "dmarc=pass") {
		t.Fatalf("list inbound: %v\n%s", reply, in)
	}
	changed := strings.Replace(in, "Subject: plans", "Subject: [list] plans", 1)
	listOut := fmt.Sprintf(arcBase, "list.test", `"127.0.0.0/8"`, w.dns.Addr) +
		fmt.Sprintf("[arc]\nseal_outbound = true\nsealer_domain = \"list.test\"\n[[arc.key]]\ndomain = \"list.test\"\nselector = \"arc\"\nfile = %q\n", w.listPEM)
	out, reply, _, _ := w.run(t, listOut, "127.0.0.1", changed)
	if reply != nil || !strings.Contains(out, "ARC-Seal: i=1; a=rsa-sha256; d=list.test; s=arc;") {
		t.Fatalf("list outbound not sealed: %v\n%s", reply, out)
	}
	return out
}

func TestARCTrustedForwarderOverridesDMARC(t *testing.T) {
	w := newARCWorld(t)
	msg := w.forwarded(t)
	receiver := fmt.Sprintf(arcBase, "mx.test", "", w.dns.Addr)

	// Untrusted: the chain passes, DMARC fails, the policy applies.
	_, reply, rep, _ := w.run(t, receiver, "192.0.2.7", msg)
	if reply == nil || reply.Code != 550 || rep.ARC == nil || rep.ARC.Result != "pass" {
		t.Fatalf("untrusted sealer: reply %v, arc %+v", reply, rep.ARC)
	}

	// Trusted: delivered, A-R keeps dmarc=fail policy.dmarc=reject and
	// names the override; the DMARC history records trusted_forwarder.
	hist := t.TempDir()
	trusted := receiver + fmt.Sprintf("[arc]\ntrusted_sealers = [\"list.test\"]\n[dmarc]\nhistory_dir = %q\n", hist)
	out, reply, rep, logs := w.run(t, trusted, "192.0.2.7", msg)
	if reply != nil {
		t.Fatalf("trusted sealer: refused %v\n%s", reply, logs)
	}

	for _, want := range []string{"arc=pass header.oldest-pass=0 (as=1 ams=1 sealers=list.test)",
		"dmarc=fail header.from=origin.test policy.dmarc=reject (override=trusted_forwarder,arc=pass,sealer=list.test)"} {
		if !strings.Contains(strings.ReplaceAll(out[:strings.Index(out, "\r\n\r\n")], "\r\n\t", " "), want) {
			t.Errorf("Authentication-Results lacks %q:\n%s", want, out)
		}
	}
	if w.checks["arc/pass"] != 1 || w.checks["dmarc_override/trusted_forwarder"] != 1 {
		t.Errorf("metrics: %v", w.checks)
	}
	if !strings.Contains(logs, "sealer=list.test") {
		t.Errorf("log does not name the sealer:\n%s", logs)
	}
	if rep.DMARC == nil || rep.DMARC.Result != "fail" || rep.DMARC.Disposition != "none" {
		t.Errorf("report DMARC %+v", rep.DMARC)
	}
	files, _ := filepath.Glob(filepath.Join(hist, "*.jsonl"))
	var history string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		history += string(b)
	}
	if !strings.Contains(history, `"override":"trusted_forwarder"`) || !strings.Contains(history, `arc=pass, sealed by list.test`) {
		t.Errorf("history lacks the override: %q", history)
	}

	// A trusted sealer whose AAR records no aligned pass changes nothing.
	noPass := strings.Replace(w.original(t), "DKIM-Signature:", "X-Old-Signature:", 1)
	listOut := fmt.Sprintf(arcBase, "list.test", `"127.0.0.0/8"`, w.dns.Addr) +
		fmt.Sprintf("[arc]\nseal_outbound = true\nsealer_domain = \"list.test\"\n[[arc.key]]\ndomain = \"list.test\"\nselector = \"arc\"\nfile = %q\n", w.listPEM)
	sealed, _, _, _ := w.run(t, listOut, "127.0.0.1", noPass)
	if _, reply, _, _ := w.run(t, trusted, "192.0.2.7", sealed); reply == nil || reply.Code != 550 {
		t.Errorf("trusted sealer without an aligned pass: reply %v", reply)
	}

	// A broken chain (the body changed after the seal) changes nothing.
	broken := strings.Replace(msg, "See you at ten.", "See you at eleven.", 1)
	if _, reply, rep, _ := w.run(t, trusted, "192.0.2.7", broken); reply == nil || rep.ARC == nil || rep.ARC.Result != "fail" {
		t.Errorf("broken chain: reply %v, arc %+v", reply, rep.ARC)
	}
}

// Mail for a forwarded domain is sealed on the way in, once.
func TestARCSealForwardedDomain(t *testing.T) {
	w := newARCWorld(t)
	cfg := fmt.Sprintf(arcBase, "list.test", "", w.dns.Addr) +
		fmt.Sprintf("[arc]\nforwarded_domains = [\"example.net\"]\nsealer_domain = \"list.test\"\n[[arc.key]]\ndomain = \"list.test\"\nselector = \"arc\"\nfile = %q\n", w.listPEM)
	out, reply, _, _ := w.run(t, cfg, "192.0.2.1", w.original(t))
	if reply != nil || strings.Count(out, "ARC-Seal:") != 1 || !strings.Contains(out, "ARC-Authentication-Results: i=1; list.test;") {
		t.Fatalf("%v\n%s", reply, out)
	}
	if w.checks["arc_seal/sealed"] != 1 {
		t.Errorf("metrics: %v", w.checks)
	}
	again, _, rep, _ := w.run(t, cfg, "192.0.2.1", out)
	if strings.Count(again, "ARC-Seal:") != 1 || rep.ARC == nil || rep.ARC.Result != "pass" {
		t.Fatalf("sealed twice or chain not passing: %+v\n%s", rep.ARC, again)
	}
}

// A header over max_header_bytes is not verified: with ARC fields that is
// arc=fail (no points: the size, not the chain, stopped it), without any
// there is no arc entry at all.
func TestARCHeaderOverLimit(t *testing.T) {
	w := newARCWorld(t)
	cfg := strings.Replace(fmt.Sprintf(arcBase, "mx.test", "", w.dns.Addr), "[dns]", "max_header_bytes = 65536\n[dns]", 1)
	big := strings.Repeat("X-Filler: "+strings.Repeat("x", 900)+"\r\n", 80)
	if _, _, rep, _ := w.run(t, cfg, "192.0.2.7", big+w.original(t)); rep.ARC != nil {
		t.Errorf("no ARC fields, yet an arc result: %+v", rep.ARC)
	}
	_, _, rep, _ := w.run(t, cfg, "192.0.2.7", big+w.forwarded(t))
	if rep.ARC == nil || rep.ARC.Result != "fail" || rep.ARC.Reason != "header over max_header_bytes; not verified" || !rep.ARC.Temporary {
		t.Errorf("over the limit with a chain: %+v", rep.ARC)
	}
}
