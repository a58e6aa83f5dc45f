package socketmap_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"spamgate/socketmap"
)

// Shutdown lets a request in progress finish and be answered, closes idle connections
// at once and the listener, and makes Serve return nil.
func TestShutdownDrains(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	h := func(_ context.Context, _, key string) socketmap.Reply {
		if key == "block" {
			close(entered)
			<-release
		}
		return socketmap.OK(key)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := socketmap.NewServer(h, testLogger(t))
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()

	busy, idle := dial(t, ln.Addr().String()), dial(t, ln.Addr().String())
	idle.query("m", "x")
	busy.send(netstring("m block"))
	<-entered

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	idle.expectClosed()
	if err := <-served; err != nil {
		t.Errorf("Serve: %v, want nil", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listener still open after Shutdown: %v", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in progress", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if got, err := busy.reply(); err != nil || got != "OK block" {
		t.Errorf("in-flight reply %q, %v", got, err)
	}
	busy.expectClosed()
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// When Shutdown's ctx ends first, the busy connections are closed, the handlers' ctx
// is cancelled and Shutdown reports it.
func TestShutdownForced(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	h := func(ctx context.Context, _, _ string) socketmap.Reply {
		close(entered)
		<-ctx.Done()
		return socketmap.Temp("cancelled")
	}
	s := startServer(t, h, nil)
	c := dial(t, s.addr)
	c.send(netstring("m stuck"))
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want deadline exceeded", err)
	}
	c.expectClosed()
}

// Serve after Shutdown returns nil at once and closes the listener.
func TestServeAfterShutdown(t *testing.T) {
	t.Parallel()
	s := socketmap.NewServer(testHandler, nil)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(ln); err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listener not closed: %v", err)
	}
}

// A listener closed behind the server's back is an error, not a clean end.
func TestServeListenerClosed(t *testing.T) {
	t.Parallel()
	s := socketmap.NewServer(testHandler, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	ln.Close()
	if err := <-served; err == nil {
		t.Error("Serve returned nil")
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}
