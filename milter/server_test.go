package milter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"
	"github.com/miekg/dns"

	"spamgate/config"
	"spamgate/dnsx"
	"spamgate/dnsx/dnstest"
	"spamgate/engine"
	"spamgate/internal/miltertest"
)

// testConfig is a small real configuration: the checks that look up the
// client and the sender in DNS, against the test DNS server at %s.
const testConfig = `
[milter]
listen = "inet:127.0.0.1:0"
authserv_id = "mx.test"
internal_networks = []
check_timeout = "20s"

[dns]
nameservers = ["%s"]
timeout = "10s"
cache_size = -1

[greylist]
mode = "never"
`

// rig is a Server on a loopback port with a real engine and a real DNS
// server behind it.
type rig struct {
	srv  *Server
	dns  *dnstest.Server
	addr string
	done chan error // Serve's result
}

// startServer starts a Server with o (Engine and Log are filled in) on
// 127.0.0.1:0. Cleanup shuts it down if the test did not.
func startServer(t *testing.T, o Options, prepare ...func(*Server)) *rig {
	t.Helper()
	z, err := dnstest.LoadZoneFile("../testdata/dns/integration.zone", "test.")
	if err != nil {
		t.Fatal(err)
	}
	z.ServFail("servfail.test.", dns.TypeANY)
	ds := dnstest.Start(t, z)
	cfg, err := config.Parse("test.toml", []byte(fmt.Sprintf(testConfig, ds.Addr)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := dnsx.New(dnsx.Config{Nameservers: cfg.DNS.Nameservers, Timeout: cfg.DNS.Timeout.Duration, CacheSize: cfg.DNS.CacheSize})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	eng, err := engine.New(cfg, res, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	o.Engine = func() *engine.Engine { return eng }
	o.Log = log
	srv := NewServer(o)
	for _, p := range prepare {
		p(srv)
	}
	ln, err := Listen("inet:127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{srv: srv, dns: ds, addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { r.done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-r.done
	})
	return r
}

// testWriter sends the server's log to the test log (with -v).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// A forced shutdown (drain_timeout over) while a callback is running must
// not close the engine session under it: before the fix, Shutdown's
// force-close ended go-milter's Serve at once, so the session was closed on
// the handler's goroutine while RCPT was still using it on go-milter's
// (a data race under -race, and a RCPT that went on with a closed session).
func TestForcedShutdownDuringCallback(t *testing.T) {
	inRcpt := make(chan struct{}, 1)
	r := startServer(t, Options{IdleTimeout: time.Minute, MaxSessions: 10}, func(s *Server) {
		s.onRcpt = func() {
			select {
			case inRcpt <- struct{}{}:
			default:
			}
		}
	})
	s, err := miltertest.Dial(r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Every DNS answer is slow, so RCPT waits for the lookups that
	// connect and MAIL started: it is inside its callback when the drain
	// deadline passes.
	r.dns.SetDelay(time.Hour)
	if _, err := s.Conn("client.test", gomilter.FamilyInet, 25, "192.0.2.99"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Helo("helo.good.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mail("<user@good.test>", nil); err != nil {
		t.Fatal(err)
	}
	rcpt := make(chan error, 1)
	go func() {
		_, err := s.Rcpt("<alice@example.net>", nil)
		rcpt <- err
	}()
	select {
	case <-inRcpt:
	case <-time.After(10 * time.Second):
		t.Fatal("RCPT never reached its callback")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = r.srv.Shutdown(ctx)
	if err == nil {
		t.Fatal("Shutdown reported no forced close, though a RCPT was in progress")
	}
	t.Logf("shutdown: %v", err)
	if err := <-rcpt; err == nil {
		t.Error("the RCPT cut off by the forced close got a reply")
	}
	if n := r.srv.ActiveSessions(); n != 0 {
		t.Errorf("%d sessions left after Shutdown", n)
	}
}
