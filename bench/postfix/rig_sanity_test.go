package postfix

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"spamgate/internal/mtarig"
	"spamgate/internal/postfixtest"
)

// TestRig sends a few messages through Postfix alone and through Postfix with
// spamgate, as the benchmark does, and checks that all of them arrive and
// that spamgate saw each one: the benchmark's harness must keep working.
func TestRig(t *testing.T) {
	bin := buildSpamgate(t)
	mail := newBenchMail(t)
	dns := mtarig.StartDNS(t, mail.zoneFile, 0)
	sk := startSink(t)
	sg := startSpamgate(t, bin, dns.Addr, 0)
	alone := target{name: "Postfix alone", postfix: startPostfix(t, sk, ""), mail: mail.msgFile}
	withMilter := target{name: "Postfix + spamgate", postfix: startPostfix(t, sk, sg.Milter), sg: sg, dns: dns, mail: mail.msgFile}

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
	// Every check ran and passed: SPF for loop.test covers 127.0.0.1, the
	// DKIM signature verifies, and DMARC (p=reject) passes.
	for line := range strings.SplitSeq(sg.Log(), "\n") {
		if strings.Contains(line, "msg=message ") &&
			(!strings.Contains(line, " accepted=1 ") || !strings.Contains(line, " spf=pass") ||
				!strings.Contains(line, " dmarc=pass dmarc_policy=reject")) {
			t.Errorf("spamgate did not accept the message with SPF and DMARC pass: %s", line)
			break
		}
	}
	// The history's writer lingers for a batch.
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(sg.historyText(t), `"dkim":"pass"`) < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := strings.Count(sg.historyText(t), `"dkim":"pass"`); got < n {
		t.Errorf("%d messages with DKIM pass in the decision history, want at least %d", got, n)
	}
	t.Logf("Postfix + spamgate: %d messages in %v, spamgate CPU %v, peak RSS %d KiB", r.n, r.delivered, r.cpu, r.peakRSS>>10)
}

// TestRigFloorAndUnix sends a few messages through the benchmark's other
// milter set-ups: the floor over TCP and over a unix socket, and spamgate
// over a unix socket. Every message must arrive, and Postfix must not log a
// milter warning (a negotiation the floor got wrong would show there).
func TestRigFloorAndUnix(t *testing.T) {
	bin := buildSpamgate(t)
	mail := newBenchMail(t)
	dns := mtarig.StartDNS(t, mail.zoneFile, 0)
	sk := startSink(t)
	sgUnix := startSpamgate(t, bin, dns.Addr, 0, "unix:"+postfixtest.SocketDir(t)+"/spamgate.sock")
	fl, flUnix := startFloor(t, false), startFloor(t, true)
	// The floor asks Postfix for what spamgate asks: the same actions,
	// protocol bits and macro lists.
	sgOpts, err := negotiated("unix", sgUnix.Addr)
	if err != nil {
		t.Fatalf("negotiate with spamgate: %v", err)
	}
	for _, addr := range []string{fl.Milter, flUnix.Milter} {
		network, a, _ := strings.Cut(addr, ":")
		if network == "inet" {
			network = "tcp"
		}
		got, err := negotiated(network, a)
		if err != nil {
			t.Fatalf("negotiate with the floor at %s: %v", addr, err)
		}
		if got != sgOpts {
			t.Errorf("floor at %s negotiates %+v; spamgate %+v", addr, got, sgOpts)
		}
	}

	const n, conc = 20, 5
	for _, tg := range []target{
		{name: "Postfix + floor, TCP", postfix: startPostfix(t, sk, fl.Milter), sg: fl, mail: mail.msgFile},
		{name: "Postfix + floor, unix", postfix: startPostfix(t, sk, flUnix.Milter), sg: flUnix, mail: mail.msgFile},
		{name: "Postfix + spamgate, unix", postfix: startPostfix(t, sk, sgUnix.Milter), sg: sgUnix, dns: dns, mail: mail.msgFile},
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

type options struct {
	actions  gomilter.OptAction
	protocol gomilter.OptProtocol
	macros   string // stage=names, sorted by stage
}

// negotiated is what the milter at addr asks for when the MTA offers
// protocol version 6, every action and every protocol bit, as Postfix does.
// It speaks the option negotiation itself: go-milter's client gives up on a
// milter answering version 2 with version 6 bits, which Postfix accepts.
func negotiated(network, addr string) (options, error) {
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return options{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := binary.BigEndian.AppendUint32(nil, 13)
	req = append(req, 'O')
	for _, v := range []uint32{6, 0x1ff, 0x1fffff} {
		req = binary.BigEndian.AppendUint32(req, v)
	}
	if _, err := c.Write(req); err != nil {
		return options{}, err
	}
	head := make([]byte, 5)
	if _, err := io.ReadFull(c, head); err != nil {
		return options{}, err
	}
	n := binary.BigEndian.Uint32(head)
	if head[4] != 'O' || n < 13 || n > 4096 {
		return options{}, fmt.Errorf("reply code %q, length %d", head[4], n)
	}
	body := make([]byte, n-1)
	if _, err := io.ReadFull(c, body); err != nil {
		return options{}, err
	}
	o := options{
		actions:  gomilter.OptAction(binary.BigEndian.Uint32(body[4:])),
		protocol: gomilter.OptProtocol(binary.BigEndian.Uint32(body[8:])),
	}
	// Then the macro lists: a stage (4 bytes) and its names, NUL-terminated,
	// in whatever order the milter keeps them.
	var lists []string
	for rest := body[12:]; len(rest) > 0; {
		if len(rest) < 5 {
			return o, fmt.Errorf("truncated macro list %q", rest)
		}
		names, after, ok := bytes.Cut(rest[4:], []byte{0})
		if !ok {
			return o, fmt.Errorf("macro list %q without its NUL", rest)
		}
		lists = append(lists, fmt.Sprintf("%d=%s", binary.BigEndian.Uint32(rest), names))
		rest = after
	}
	slices.Sort(lists)
	o.macros = strings.Join(lists, "; ")
	return o, nil
}
