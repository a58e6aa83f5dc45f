package milter

import (
	"net"
	"testing"
	"time"
)

// TestServeConn serves one accepted connection on the calling goroutine:
// the session runs to its end, and ServeConn returns once the client quit.
func TestServeConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := &Server{NewMilter: func() Milter { return NoOpMilter{} }, Actions: OptAddHeader}
	served := make(chan struct{})
	go func() {
		defer close(served)
		conn, err := ln.Accept()
		if err != nil {
			t.Error(err)
			return
		}
		s.ServeConn(conn)
	}()

	c := NewClientWithOptions("tcp", ln.Addr().String(), ClientOptions{ActionMask: OptAddHeader})
	defer c.Close()
	sess, err := c.Session()
	if err != nil {
		t.Fatal(err)
	}
	act, err := sess.Conn("client.example", FamilyInet, 25, "192.0.2.1")
	if err != nil || act.Code != ActContinue {
		t.Fatalf("connect: %+v, %v", act, err)
	}
	if act, err := sess.Mail("sender@example.org", nil); err != nil || act.Code != ActContinue {
		t.Fatalf("mail: %+v, %v", act, err)
	}
	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeConn did not return after the client quit")
	}
}
