package postfix

import (
	"strings"
	"testing"

	"spamgate/internal/mtarig"
	"spamgate/internal/postfixtest"
)

// TestRig sends a few messages through Postfix alone and through Postfix with
// spamgate, as the benchmark does, and checks that all of them arrive and
// that spamgate saw each one: the benchmark's harness must keep working.
func TestRig(t *testing.T) {
	bin := buildSpamgate(t)
	dns := mtarig.StartDNS(t, zoneFile, 0)
	sk := startSink(t)
	sg := startSpamgate(t, bin, dns.Addr, 0)
	alone := target{name: "Postfix alone", postfix: startPostfix(t, sk, "")}
	withMilter := target{name: "Postfix + spamgate", postfix: startPostfix(t, sk, sg.Milter), sg: sg, dns: dns}

	const n, conc = 20, 5
	r, err := measure(alone, sk, conc, n)
	if err != nil {
		t.Fatalf("Postfix alone: %v\nPostfix log:\n%s", err, mtarig.Tail(alone.postfix.Log(), 40))
	}
	if got := sg.MessagesLogged(); got != 0 {
		t.Errorf("spamgate logged %d messages sent through Postfix without a milter", got)
	}
	t.Logf("Postfix alone: %d messages in %v", r.n, r.delivered)

	r, err = measure(withMilter, sk, conc, n)
	if err != nil {
		t.Fatalf("Postfix + spamgate: %v\nPostfix log:\n%s", err, mtarig.Tail(withMilter.postfix.Log(), 40))
	}
	// The warm-up sends max(2*conc, 20) messages before the measured ones.
	if got, want := sg.MessagesLogged(), n+max(2*conc, 20); got != want {
		t.Errorf("spamgate logged %d messages, want %d", got, want)
	}
	if r.cpu <= 0 || r.peakRSS <= 0 {
		t.Errorf("spamgate CPU %v, peak RSS %d: /proc not read", r.cpu, r.peakRSS)
	}
	if log := withMilter.postfix.Log(); strings.Contains(log, "warning") && strings.Contains(log, "milter") {
		t.Errorf("Postfix logged milter warnings:\n%s", mtarig.Tail(log, 40))
	}
	// Every check ran and passed: SPF for loop.test covers 127.0.0.1.
	for line := range strings.SplitSeq(sg.Log(), "\n") {
		if strings.Contains(line, "msg=message ") &&
			(!strings.Contains(line, " accepted=1 ") || !strings.Contains(line, " spf=pass")) {
			t.Errorf("spamgate did not accept the message with SPF pass: %s", line)
			break
		}
	}
	t.Logf("Postfix + spamgate: %d messages in %v, spamgate CPU %v, peak RSS %d KiB", r.n, r.delivered, r.cpu, r.peakRSS>>10)
}

// TestRigFloorAndUnix sends a few messages through the benchmark's other
// milter set-ups: the floor over TCP and over a unix socket, and spamgate
// over a unix socket. Every message must arrive, and Postfix must not log a
// milter warning (a negotiation the floor got wrong would show there).
func TestRigFloorAndUnix(t *testing.T) {
	bin := buildSpamgate(t)
	dns := mtarig.StartDNS(t, zoneFile, 0)
	sk := startSink(t)
	sgUnix := startSpamgate(t, bin, dns.Addr, 0, "unix:"+postfixtest.SocketDir(t)+"/spamgate.sock")
	fl, flUnix := startFloor(t, false), startFloor(t, true)
	const n, conc = 20, 5
	for _, tg := range []target{
		{name: "Postfix + floor, TCP", postfix: startPostfix(t, sk, fl.Milter), sg: fl},
		{name: "Postfix + floor, unix", postfix: startPostfix(t, sk, flUnix.Milter), sg: flUnix},
		{name: "Postfix + spamgate, unix", postfix: startPostfix(t, sk, sgUnix.Milter), sg: sgUnix, dns: dns},
	} {
		r, err := measure(tg, sk, conc, n)
		if err != nil {
			t.Fatalf("%s: %v\nPostfix log:\n%s", tg.name, err, mtarig.Tail(tg.postfix.Log(), 40))
		}
		if log := tg.postfix.Log(); strings.Contains(log, "warning") && strings.Contains(log, "milter") {
			t.Errorf("%s: Postfix logged milter warnings:\n%s", tg.name, mtarig.Tail(log, 40))
		}
		if r.peakRSS <= 0 {
			t.Errorf("%s: milter peak RSS %d: /proc not read", tg.name, r.peakRSS)
		}
		t.Logf("%s: %d messages in %v, milter CPU %v", tg.name, r.n, r.delivered, r.cpu)
	}
	// The warm-up sends max(2*conc, 20) messages before the measured ones.
	if got, want := sgUnix.MessagesLogged(), n+max(2*conc, 20); got != want {
		t.Errorf("spamgate over a unix socket logged %d messages, want %d", got, want)
	}
}
