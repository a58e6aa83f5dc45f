package postfix

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"

	"spamgate/internal/mtarig"
	"spamgate/internal/postfixtest"
)

// floorEnv, when set in the environment of this test binary, makes it the
// floor milter instead of running tests: "tcp" listens on a free loopback
// port, anything else is the path of a unix socket. It prints the address
// it listens on, one line, and serves until killed. The floor runs as its
// own process so that its CPU time and RSS are read from /proc like
// spamgate's, without the benchmark's own goroutines in them.
const floorEnv = "SPAMGATE_BENCH_FLOOR"

func TestMain(m *testing.M) {
	if addr := os.Getenv(floorEnv); addr != "" {
		if err := serveFloor(addr); err != nil {
			fmt.Fprintln(os.Stderr, "floor milter:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The floor negotiates what spamgate negotiates with a body to read
// (milter/negotiate.go: actions, protocol(true), symList; unexported there,
// so copied here; TestRigFloorAndUnix checks they match), so that Postfix does for it the same
// work it does for spamgate, and the difference between the two is
// spamgate's own.
const (
	floorActions  = gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine | gomilter.OptSetSymList
	floorProtocol = gomilter.OptNoConnReply | gomilter.OptNoHeloReply | gomilter.OptNoMailReply |
		gomilter.OptNoHeaderReply | gomilter.OptNoEOHReply | gomilter.OptNoBodyReply |
		gomilter.OptNoUnknown | gomilter.OptNoData | gomilter.OptHeaderLeadingSpace
)

func floorSymList() map[gomilter.Stage][]string {
	return map[gomilter.Stage][]string{
		gomilter.StageConnect:  {"j", "{client_addr}"},
		gomilter.StageHelo:     {"{tls_version}", "{cipher}", "{cipher_bits}"},
		gomilter.StageMailFrom: {"i", "{auth_authen}", "{tls_version}", "{cipher}", "{cipher_bits}"},
		gomilter.StageRcptTo:   {"i"},
		gomilter.StageEOH:      {"i"},
		gomilter.StageEOM:      {"i"},
	}
}

// floor does nothing: no reply where spamgate gives none (nil Response, as
// the "no reply" bits require), continue at RCPT, and at end of message one
// added header field, as spamgate adds Authentication-Results.
type floor struct{}

func (floor) Connect(string, string, uint16, net.IP, *gomilter.Modifier) (gomilter.Response, error) {
	return nil, nil
}
func (floor) Helo(string, *gomilter.Modifier) (gomilter.Response, error)     { return nil, nil }
func (floor) MailFrom(string, *gomilter.Modifier) (gomilter.Response, error) { return nil, nil }
func (floor) RcptTo(string, *gomilter.Modifier) (gomilter.Response, error) {
	return gomilter.RespContinue, nil
}
func (floor) Header(string, string, *gomilter.Modifier) (gomilter.Response, error) { return nil, nil }
func (floor) Headers(textproto.MIMEHeader, *gomilter.Modifier) (gomilter.Response, error) {
	return nil, nil
}
func (floor) BodyChunk([]byte, *gomilter.Modifier) (gomilter.Response, error) { return nil, nil }
func (floor) Body(m *gomilter.Modifier) (gomilter.Response, error) {
	if err := m.InsertHeader(0, "Authentication-Results", " mx.test; none"); err != nil {
		return nil, err
	}
	return gomilter.RespContinue, nil
}
func (floor) Abort(*gomilter.Modifier) error { return nil }

// serveFloor listens ("tcp" or a unix socket path), prints the smtpd_milters
// address and serves the floor milter.
func serveFloor(addr string) error {
	var ln net.Listener
	var err error
	if addr == "tcp" {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	} else {
		ln, err = net.Listen("unix", addr)
		if err == nil {
			err = os.Chmod(addr, 0o666) // smtpd connects as postfix
		}
	}
	if err != nil {
		return err
	}
	if addr == "tcp" {
		fmt.Println("inet:" + ln.Addr().String())
	} else {
		fmt.Println("unix:" + addr)
	}
	s := &gomilter.Server{
		NewMilter: func() gomilter.Milter { return floor{} },
		Actions:   floorActions,
		Protocol:  floorProtocol,
		SymList:   floorSymList(),
	}
	return s.Serve(ln)
}

// floorProcess is the floor milter running as a child of the test binary.
type floorProcess struct {
	Milter string // for smtpd_milters
	cmd    *exec.Cmd
	done   chan struct{}
}

// startFloor runs the floor milter over TCP (unix false) or on a unix socket.
func startFloor(tb testing.TB, unix bool) *floorProcess {
	tb.Helper()
	addr := "tcp"
	if unix {
		addr = postfixtest.SocketDir(tb) + "/floor.sock"
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), floorEnv+"="+addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	done, err := mtarig.StartGroup(cmd)
	if err != nil {
		tb.Fatalf("start floor milter: %v", err)
	}
	f := &floorProcess{cmd: cmd, done: done}
	tb.Cleanup(func() { mtarig.Terminate(cmd, done) })
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		s, _ := r.ReadString('\n')
		line <- strings.TrimSpace(s)
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case f.Milter = <-line:
	case <-done:
		tb.Fatal("floor milter exited before listening")
	case <-time.After(15 * time.Second):
		tb.Fatal("floor milter: no address after 15 s")
	}
	if f.Milter == "" {
		tb.Fatal("floor milter printed no address")
	}
	if a, ok := strings.CutPrefix(f.Milter, "inet:"); ok {
		if err := mtarig.WaitDial(a, done, 5*time.Second); err != nil {
			tb.Fatalf("floor milter: %v", err)
		}
	}
	return f
}

func (f *floorProcess) CPU() (time.Duration, error) { return mtarig.ProcCPU(f.cmd.Process.Pid, false) }
func (f *floorProcess) ResetPeakRSS() error         { return mtarig.ResetPeakRSS(f.cmd.Process.Pid) }
func (f *floorProcess) PeakRSS() (int64, error) {
	return mtarig.ProcKB(fmt.Sprintf("/proc/%d/status", f.cmd.Process.Pid), "VmHWM:")
}
