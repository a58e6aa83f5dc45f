package postfixtest

import (
	"context"
	"net"
	"strings"
	"testing"
)

// Start tries another port when the one it picked was taken before master could bind it.
func TestStartRetriesTakenPort(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	picks := 0
	pick := func() (string, error) {
		picks++
		if picks == 1 {
			return taken.Addr().String(), nil
		}
		return freeLoopbackAddr()
	}
	p := start(t, Options{}, pick)
	if picks != 2 || p.SMTPAddr == taken.Addr().String() {
		t.Errorf("picked %d addresses, listening on %s", picks, p.SMTPAddr)
	}
}

// Send refuses, before dialling, a source address off the loopback network.
func TestSendRefusesNonLoopbackSource(t *testing.T) {
	_, err := Send(context.Background(), "127.0.0.1:1", Mail{Source: "192.0.2.1"})
	if err == nil || !strings.Contains(err.Error(), "not a loopback IP") {
		t.Errorf("got %v, want a refusal of the source address", err)
	}
}
